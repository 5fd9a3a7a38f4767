/* board_host.c -- board.h on a hosted system (the comparison build of
 * `make check`): stdio and exit. */
#include "board.h"

#include <stdio.h>
#include <stdlib.h>

void board_puts(const char *s) { fputs(s, stdout); }

void board_exit(int status) {
  fflush(stdout);
  exit(status);
}
