/*
 * sig_threads - thread-directed signals in a multi-threaded process.
 * Proves that sigdbg attributes each delivery (and its frame, on that
 * thread's own stack) to the right thread.
 *
 * usage: sig_threads
 *
 * Creates 2 pthreads; each records its tid (gettid()) and then waits in
 * read() on a pipe.  When both are ready, main prints
 *     SIGDBG-REPORT tag=threads main=<tid> t1=<tid> t2=<tid>
 * then tgkill(pid, t1, SIGUSR1), waits until that handler has finished
 * (the handler writes a byte to a pipe), then tgkill(pid, t2, SIGUSR2) and
 * waits likewise; finally closes the pipe so both threads exit, and joins
 * them.  Handlers (SA_SIGINFO|SA_RESTART) report rep_siginfo + rep_ucontext
 * plus tid = gettid(); tag=thread1 for SIGUSR1, tag=thread2 for SIGUSR2.
 * Note: uc_stack in these frames is {0, SS_DISABLE (2), 0}: the kernel
 * resets the altstack of a thread created with CLONE_VM (main thread: 0).
 * Output order is fixed: threads, thread1, thread2, SIGDBG-DONE; exits 0.
 */
#include "report.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>

static int g_quit[2], g_ack[2], g_ready[2];
static volatile pid_t g_tid[2];

static void handler(int sig, siginfo_t *si, void *uc)
{
	char c = (char)sig;
	rep_begin(sig == SIGUSR1 ? "thread1" : "thread2");
	rep_siginfo(si);
	rep_ucontext(uc);
	rep_hex("tid", (unsigned long)gettid());
	rep_end();
	while (write(g_ack[1], &c, 1) < 0 && errno == EINTR)
		;
}

static void *thread_main(void *arg)
{
	long idx = (long)arg;
	char c = 0;

	g_tid[idx] = gettid();
	if (write(g_ready[1], &c, 1) != 1)
		abort();
	/* wait for EOF: the handler runs while we sit in read() */
	while (read(g_quit[0], &c, 1) != 0)
		;
	return NULL;
}

static void wait_byte(int fd)
{
	char c;
	while (read(fd, &c, 1) != 1)
		;
}

int main(void)
{
	struct sigaction sa;
	pthread_t th[2];
	long i;
	pid_t pid = getpid();

	if (pipe(g_quit) || pipe(g_ack) || pipe(g_ready)) {
		perror("pipe");
		return 1;
	}
	memset(&sa, 0, sizeof sa);
	sa.sa_sigaction = handler;
	sa.sa_flags = SA_SIGINFO | SA_RESTART;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGUSR1, &sa, NULL);
	sigaction(SIGUSR2, &sa, NULL);

	for (i = 0; i < 2; i++) {
		if (pthread_create(&th[i], NULL, thread_main, (void *)i) != 0) {
			fprintf(stderr, "pthread_create failed\n");
			return 1;
		}
	}
	wait_byte(g_ready[0]);
	wait_byte(g_ready[0]);

	rep_begin("threads");
	rep_hex("main", (unsigned long)gettid());
	rep_hex("t1", (unsigned long)g_tid[0]);
	rep_hex("t2", (unsigned long)g_tid[1]);
	rep_end();

	syscall(SYS_tgkill, pid, g_tid[0], SIGUSR1);
	wait_byte(g_ack[0]);
	syscall(SYS_tgkill, pid, g_tid[1], SIGUSR2);
	wait_byte(g_ack[0]);

	close(g_quit[1]);
	for (i = 0; i < 2; i++)
		pthread_join(th[i], NULL);
	done();
	return 0;
}
