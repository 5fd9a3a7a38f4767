/* semihost.c -- board.h for a Cortex-M through ARM semihosting (BKPT 0xAB):
 * SYS_WRITE0 prints a string on the host of the debugger/emulator, SYS_EXIT
 * stops. No libc. Without a debugger attached, BKPT would halt the core: a
 * real product replaces this file with its UART driver. */
#include "board.h"

static int semihost(int op, const void *arg) {
  register int r0 __asm__("r0") = op;
  register const void *r1 __asm__("r1") = arg;
  __asm__ volatile("bkpt 0xab" : "+r"(r0) : "r"(r1) : "memory");
  return r0;
}

#define SYS_WRITE0 0x04
#define SYS_EXIT 0x18
#define ADP_Stopped_ApplicationExit 0x20026
#define ADP_Stopped_RunTimeErrorUnknown 0x20023

void board_puts(const char *s) { (void)semihost(SYS_WRITE0, s); }

void board_exit(int status) {
  /* AArch32 SYS_EXIT takes the reason itself; QEMU exits 0 for
   * ApplicationExit and 1 otherwise. */
  (void)semihost(SYS_EXIT, (const void *)(status == 0 ? ADP_Stopped_ApplicationExit
                                                     : ADP_Stopped_RunTimeErrorUnknown));
  for (;;) {
  }
}
