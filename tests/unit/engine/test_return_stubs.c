/* Return stubs, run for real: the stubs are generated into a page of this
 * process and called like a function returns into them; the records are
 * read back through process_vm_readv on our own pid, as memtrace reads a
 * target's. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <capstone/capstone.h>

#include "return_stubs.h"

struct pages {
    uint8_t *code;   /* the stubs, then a `ret` they jump to */
    uint8_t *data;
    mt_addr ret;
};

static int setup(void **state)
{
    static struct pages pg;
    size_t code_len = RETURN_STUBS_MAX * RETURN_STUB_SIZE + 16;
    pg.code = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    pg.data = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    assert_true(pg.code != MAP_FAILED && pg.data != MAP_FAILED);
    return_stubs_code((mt_addr)pg.code, (mt_addr)pg.data, pg.code);
    pg.ret = (mt_addr)pg.code + code_len - 16;
    pg.code[code_len - 16] = 0xc3;   /* ret */
    assert_int_equal(mprotect(pg.code, 8192, PROT_READ | PROT_EXEC), 0);
    *(uint64_t *)pg.data = 1;   /* the first sequence number, as scratch_map sets it */
    *state = &pg;
    return 0;
}

/* A call returning value through stub: the stub's jump lands on a ret,
 * which returns here. */
static void return_through(mt_addr stub, uint64_t value)
{
    uint64_t rax = value;
    /* Below the red zone, which the compiler may use in this function. */
    __asm__ volatile("sub $128, %%rsp\n\tcall *%[stub]\n\tadd $128, %%rsp"
                     : "+a"(rax)
                     : [stub] "r"(stub)
                     : "r10", "r11", "cc", "memory", "rcx", "rdx", "rsi", "rdi", "r8", "r9");
    assert_int_equal(rax, value);   /* the stub leaves rax alone */
}

/* The memory operand's address of a RIP-relative instruction. */
static mt_addr rip_target(const cs_insn *insn)
{
    const cs_x86 *x = &insn->detail->x86;
    for (int i = 0; i < x->op_count; i++)
        if (x->operands[i].type == X86_OP_MEM && x->operands[i].mem.base == X86_REG_RIP)
            return insn->address + insn->size + (mt_addr)x->operands[i].mem.disp;
    fail_msg("%s %s: no RIP-relative operand", insn->mnemonic, insn->op_str);
    return 0;
}

static void test_code_is_what_the_header_says(void **state)
{
    struct pages *pg = *state;
    csh cs;
    assert_int_equal(cs_open(CS_ARCH_X86, CS_MODE_64, &cs), CS_ERR_OK);
    assert_int_equal(cs_option(cs, CS_OPT_DETAIL, CS_OPT_ON), CS_ERR_OK);
    cs_insn *insn;
    const unsigned k = 5;
    mt_addr stub = (mt_addr)pg->code + k * RETURN_STUB_SIZE;
    mt_addr record = (mt_addr)pg->data + RETURN_STUB_RECORDS_OFFSET + k * RETURN_STUB_RECORD_SIZE;
    size_t n = cs_disasm(cs, pg->code + k * RETURN_STUB_SIZE, RETURN_STUB_SIZE, stub, 6, &insn);
    assert_int_equal(n, 6);
    const char *mnemonic[6] = { "mov", "mov", "mov", "lock xadd", "mov", "jmp" };
    for (size_t i = 0; i < n; i++)
        assert_string_equal(insn[i].mnemonic, mnemonic[i]);
    assert_string_equal(insn[0].op_str + strcspn(insn[0].op_str, ","), ", rax");
    assert_int_equal(rip_target(&insn[0]), record + offsetof(struct return_stub_record, value));
    assert_memory_equal(insn[1].op_str, "r10, ", 5);
    assert_int_equal(rip_target(&insn[1]), record + offsetof(struct return_stub_record, target));
    assert_int_equal(insn[2].address - stub, RETURN_STUB_TARGET_LOADED);
    assert_string_equal(insn[2].op_str, "r11d, 1");
    assert_string_equal(insn[3].op_str + strcspn(insn[3].op_str, ","), ", r11");
    assert_int_equal(rip_target(&insn[3]), (mt_addr)pg->data);   /* the counter */
    assert_string_equal(insn[4].op_str + strcspn(insn[4].op_str, ","), ", r11");
    assert_int_equal(rip_target(&insn[4]), record + offsetof(struct return_stub_record, seq));
    /* After publishing, nothing of the record is read: the jump is through r10. */
    assert_string_equal(insn[5].op_str, "r10");
    assert_true(insn[5].address + insn[5].size <= stub + RETURN_STUB_SIZE);
    cs_free(insn, n);
    cs_close(&cs);
}

static void test_completions_come_back_in_order(void **state)
{
    struct pages *pg = *state;
    struct return_stubs rs;
    return_stubs_init(&rs, (mt_addr)pg->code, (mt_addr)pg->data);
    pid_t self = getpid();
    mt_addr at[3];
    int k[3];
    for (int i = 0; i < 3; i++) {
        k[i] = return_stubs_take(&rs, &remote_ptrace, self, 1000 + i, pg->ret, &at[i]);
        assert_int_equal(k[i], i);
        assert_int_equal(return_stubs_at(&rs, at[i]), i);
        assert_true(return_stubs_contains(&rs, at[i] + 7));
    }
    assert_int_equal(rs.nused, 3);
    assert_int_equal(rs.owner[1], 1001);

    struct return_stub_done done[RETURN_STUBS_MAX];
    assert_int_equal(return_stubs_collect(&rs, &remote_ptrace, self, false, done), 0);   /* none ran */
    return_through(at[2], 0x2222);
    return_through(at[0], 0x1111);
    assert_int_equal(return_stubs_collect(&rs, &remote_ptrace, self, true, done), 2);
    assert_int_equal(done[0].stub, 2);
    assert_int_equal(done[0].value, 0x2222);
    assert_int_equal(done[1].stub, 0);
    assert_int_equal(done[1].value, 0x1111);
    assert_true(done[0].seq < done[1].seq);

    /* Released stubs are taken again, their records reset. */
    return_stubs_release(&rs, 2);
    return_stubs_release(&rs, 0);
    return_stubs_release(&rs, 0);   /* twice: no effect */
    assert_int_equal(rs.nused, 1);
    mt_addr again;
    assert_int_equal(return_stubs_take(&rs, &remote_ptrace, self, 7, pg->ret, &again), 0);
    assert_int_equal(return_stubs_collect(&rs, &remote_ptrace, self, false, done), 0);
    return_through(at[1], 0);   /* malloc returning NULL is a completion too */
    assert_int_equal(return_stubs_collect(&rs, &remote_ptrace, self, false, done), 1);
    assert_int_equal(done[0].stub, 1);
    assert_int_equal(done[0].value, 0);
}

static void test_full_and_disabled(void **state)
{
    struct pages *pg = *state;
    struct return_stubs rs;
    return_stubs_init(&rs, (mt_addr)pg->code, (mt_addr)pg->data);
    mt_addr at;
    for (unsigned i = 0; i < RETURN_STUBS_MAX; i++)
        assert_int_equal(return_stubs_take(&rs, &remote_ptrace, getpid(), 1, pg->ret, &at), (int)i);
    assert_int_equal(return_stubs_take(&rs, &remote_ptrace, getpid(), 1, pg->ret, &at), -1);   /* trampoline */
    assert_int_equal(return_stubs_at(&rs, at + 1), -1);   /* not an entry */

    return_stubs_init(&rs, 0, 0);
    assert_int_equal(return_stubs_take(&rs, &remote_ptrace, getpid(), 1, pg->ret, &at), -1);
    assert_false(return_stubs_contains(&rs, (mt_addr)pg->code));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_code_is_what_the_header_says),
        cmocka_unit_test(test_completions_come_back_in_order),
        cmocka_unit_test(test_full_and_disabled),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
