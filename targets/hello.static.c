/*
 * hello.static - hello linked statically against glibc (no dynamic loader,
 * no AT_BASE, libc code inside the executable).  Proves that sigdbg handles
 * a static executable: start / attach / follow, initial stack and auxv.
 *
 * usage: hello.static [wait|sleep] [more args...]
 *   wait   block reading stdin until EOF before printing SIGDBG-DONE (the
 *          test decides when it ends; for attach tests)
 *   sleep  sleep 30 s before printing SIGDBG-DONE
 *
 * Output (all with write(2), so nothing is buffered while it blocks):
 *   one "argv[i]=<string>" line per argument, then
 *   SIGDBG-REPORT tag=hello argc pid initsp auxv vdso entry minsigstksz
 *     initsp = &argc on the initial stack (= argv - 8 = rsp at the ELF entry)
 *     auxv = address of the first auxv pair on the initial stack
 *     vdso = AT_SYSINFO_EHDR, entry = AT_ENTRY, minsigstksz = AT_MINSIGSTKSZ
 *   then SIGDBG-DONE; exits 0.  Identical to hello.c apart from linking.
 */
/* the same program as hello.c; only the link mode (suffix .static) differs */
#include "hello.c"
