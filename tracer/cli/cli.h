/* Command-line parsing into mt_options. Pure: unit-tested without a target. */
#ifndef MT_CLI_H
#define MT_CLI_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include "options.h"

/* Parses argv. Returns 0, or -1 with a one-line reason in err. Either way
 * o->suppressions (the default set, --suppressions files) is the caller's
 * to supp_set_destroy. */
int cli_parse(int argc, char **argv, struct mt_options *o, char *err, size_t err_len);
/* The help of topic: CMD_HELP the short one, CMD_RUN or CMD_ATTACH every
 * option of that command. */
void cli_usage(FILE *f, enum cli_command topic);

#endif
