/* Placeholder until the owning issue lands; replaced by the real command. */
#include <stdio.h>

#include "cli.h"

int cmd_classify(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "ptune: 'classify' is not built yet\n");
    return 2;
}
