"""The end-to-end cases written in Python, by topic (the simple report
cases are files in ../cases/).  Every function case_NAME(env) of a module
here is the ctest e2e_NAME (symbols.py: symbols_NAME); @ctest(...) gives
its settings.

Each case states what Valgrind 3.19 (memcheck, --leak-check=full
--show-leak-kinds=all) reported for the same fixture on Debian 12 /
glibc 2.36 / gcc 12 at -O0, and asserts the kind of every leak record.

Deliberate differences, explained where they show:
- Valgrind runs glibc's __libc_freeres at exit; memtrace does not change
  what the program does.  Blocks freeres releases (stdio buffers, the DTVs
  of joined threads, dlopen's bookkeeping) never show up in Valgrind's
  report; memtrace reports them (still reachable or possibly lost, as
  Valgrind does with --run-libc-freeres=no).
- Valgrind knows which stack words are defined; a conservative scan from
  outside cannot, so a stale copy of a pointer in an uninitialized slot of
  a live frame (exit's, after main returned) would keep a block reachable
  for memtrace only.  The fixtures clear their locals and call
  fx_scrub_stack() after dropping a block, so the kinds do not depend on
  such leftovers.
"""
