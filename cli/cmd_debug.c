/* Placeholder until the owning issue lands; replaced by the real command. */
#include <stdio.h>

#include "cli.h"

int cmd_debug(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "ptune: 'debug' is not built yet\n");
    return 2;
}
