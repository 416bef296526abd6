/* Placeholder until the owning issue lands; replaced by the real command. */
#include <stdio.h>

#include "cli.h"

int cmd_tokenize(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "ptune: 'tokenize' is not built yet\n");
    return 2;
}
