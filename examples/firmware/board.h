/* board.h -- the two things the example needs from its board: print a line,
 * stop. semihost.c implements them on the Cortex-M4 (ARM semihosting, so an
 * emulator or a debug probe shows the output); board_host.c with stdio. */
#ifndef FIRMWARE_BOARD_H
#define FIRMWARE_BOARD_H

void board_puts(const char *s);
void board_exit(int status);

#endif
