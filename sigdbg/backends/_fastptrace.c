/*
 * sigdbg.backends._fastptrace - the ptrace backend's hot system calls.
 *
 * Copyright (C) 2026 the sigdbg authors.  GPL-2.0-or-later.
 *
 * Optional: sigdbg/backends/ptrace.py does the same through ctypes when this
 * module is not built (or SIGDBG_NO_NATIVE is set).  It exists for speed
 * only -- a ctypes call costs about 0.4 us more than a C-API call, and the
 * trace path makes several per signal -- so it holds no logic: each function
 * is a system call, or a resume followed by the wait and the
 * PTRACE_GETSIGINFO the tracer makes after every resume anyway.
 *
 *   ptrace(request, pid, addr, data) -> int
 *       ptrace(2) with unsigned-word arguments; the result as an unsigned
 *       word (all ones = -1).  errno after the call: last_errno().
 *   last_errno() -> int
 *   resume_wait(tid, request, sig, wait_tid, pc_offset, regs_size,
 *               mem_fd, sp_offset, sp_size, read_size) -> tuple
 *       If pc_offset >= 0, first PTRACE_PEEKUSER at pc_offset (the pc before
 *       resuming).  Then ptrace(request, tid, 0, sig) (PTRACE_CONT or
 *       PTRACE_SINGLESTEP), waitpid(wait_tid, __WALL) with the GIL released,
 *       and PTRACE_GETSIGINFO of the task that stopped if the status is
 *       neither a PTRACE_EVENT stop nor a syscall-stop (SIGTRAP|0x80); if
 *       regs_size > 0 and that stop is a SIGTRAP, PTRACE_GETREGSET
 *       NT_PRSTATUS of it too (at most regs_size bytes); and if mem_fd >= 0
 *       and the stop is the resumed task's, pread(mem_fd, read_size) at the
 *       sp_size-byte little-endian word at sp_offset of those registers (the
 *       signal frame, at a handler's entry; the caller gives the offsets from
 *       its register tables).  Returns (resume_errno, wait_errno, tid,
 *       status, siginfo bytes or None, siginfo_errno, pc or None, regs bytes
 *       or None, bytes read or None); when resume_errno is not 0 nothing
 *       after the resume was done, when wait_errno is not 0 no task reported.
 *       A signal that interrupts the wait runs its Python handler (Ctrl-C
 *       raises KeyboardInterrupt here, as os.waitpid would).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <errno.h>
#include <signal.h>
#include <sys/ptrace.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef NT_PRSTATUS
#define NT_PRSTATUS 1
#endif

#ifndef __WALL
#define __WALL 0x40000000
#endif
#define SIGINFO_SIZE 128

static int last_errno;

static int unsigned_words(PyObject *const *args, Py_ssize_t n, unsigned long *out)
{
	for (Py_ssize_t i = 0; i < n; i++) {
		out[i] = PyLong_AsUnsignedLongMask(args[i]);
		if (out[i] == (unsigned long)-1 && PyErr_Occurred())
			return -1;
	}
	return 0;
}

static PyObject *fast_ptrace(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
	unsigned long a[4];
	long r;

	if (nargs != 4) {
		PyErr_SetString(PyExc_TypeError, "ptrace(request, pid, addr, data)");
		return NULL;
	}
	if (unsigned_words(args, 4, a) < 0)
		return NULL;
	errno = 0;
	r = ptrace((enum __ptrace_request)a[0], (pid_t)a[1], (void *)a[2], (void *)a[3]);
	last_errno = errno;
	return PyLong_FromUnsignedLong((unsigned long)r);
}

static PyObject *fast_last_errno(PyObject *self, PyObject *unused)
{
	return PyLong_FromLong(last_errno);
}

/* a tuple of ints and objects; steals the object references */
static PyObject *result9(int rerr, int werr, int got, int status, PyObject *info, int ierr,
			 PyObject *pc, PyObject *regs, PyObject *mem)
{
	PyObject *t = PyTuple_New(9);
	PyObject *ints[5];
	int values[5] = { rerr, werr, got, status, ierr };

	for (int i = 0; i < 5; i++)
		ints[i] = PyLong_FromLong(values[i]);
	if (t == NULL || !ints[0] || !ints[1] || !ints[2] || !ints[3] || !ints[4]) {
		Py_XDECREF(t);
		for (int i = 0; i < 5; i++)
			Py_XDECREF(ints[i]);
		Py_DECREF(info);
		Py_DECREF(pc);
		Py_DECREF(regs);
		Py_DECREF(mem);
		return NULL;
	}
	PyTuple_SET_ITEM(t, 0, ints[0]);
	PyTuple_SET_ITEM(t, 1, ints[1]);
	PyTuple_SET_ITEM(t, 2, ints[2]);
	PyTuple_SET_ITEM(t, 3, ints[3]);
	PyTuple_SET_ITEM(t, 4, info);
	PyTuple_SET_ITEM(t, 5, ints[4]);
	PyTuple_SET_ITEM(t, 6, pc);
	PyTuple_SET_ITEM(t, 7, regs);
	PyTuple_SET_ITEM(t, 8, mem);
	return t;
}

/* pread(fd, size) at the little-endian word at ``word``; ``none`` (a new
 * reference to None) is returned on failure, else released */
static PyObject *read_at_sp(PyObject *none, int fd, const char *word, int word_size, long size)
{
	unsigned long long sp = 0;
	PyObject *out;
	ssize_t n;

	for (int i = word_size - 1; i >= 0; i--)
		sp = (sp << 8) | (unsigned char)word[i];
	if (sp >= (1ULL << 63))
		return none;  /* a kernel-half address: pread cannot seek there */
	out = PyBytes_FromStringAndSize(NULL, size);
	if (out == NULL) {
		PyErr_Clear();
		return none;
	}
	Py_BEGIN_ALLOW_THREADS
	n = pread(fd, PyBytes_AS_STRING(out), (size_t)size, (off_t)sp);
	Py_END_ALLOW_THREADS
	if (n <= 0) {
		Py_DECREF(out);
		return none;
	}
	if (n < size && _PyBytes_Resize(&out, n) < 0) {
		PyErr_Clear();
		return none;
	}
	Py_DECREF(none);
	return out;
}

static PyObject *fast_resume_wait(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
	long v[10];
	int status = 0, wait_errno = 0, info_errno = 0;
	pid_t got;
	PyObject *info = Py_None, *pc = Py_None, *regs = Py_None, *mem = Py_None;

	if (nargs != 10) {
		PyErr_SetString(PyExc_TypeError,
				"resume_wait(tid, request, sig, wait_tid, pc_offset, regs_size, "
				"mem_fd, sp_offset, sp_size, read_size)");
		return NULL;
	}
	for (int i = 0; i < 10; i++)
		v[i] = PyLong_AsLong(args[i]);
	if (PyErr_Occurred())
		return NULL;
	Py_INCREF(info);
	Py_INCREF(pc);
	Py_INCREF(regs);
	Py_INCREF(mem);
	if (v[4] >= 0) {
		long word;

		errno = 0;
		word = ptrace(PTRACE_PEEKUSER, (pid_t)v[0], (void *)v[4], NULL);
		if (!(word == -1 && errno)) {
			Py_DECREF(pc);
			pc = PyLong_FromUnsignedLong((unsigned long)word);
			if (pc == NULL) {
				Py_DECREF(info);
				Py_DECREF(regs);
				Py_DECREF(mem);
				return NULL;
			}
		}
	}
	if (ptrace((enum __ptrace_request)v[1], (pid_t)v[0], NULL, (void *)v[2]) == -1)
		return result9(errno, 0, 0, 0, info, 0, pc, regs, mem);
	/*
	 * A signal for us (Ctrl-C) that arrived before this point has run only
	 * Python's C-level handler, which sets a flag: waitpid would not see an
	 * EINTR for it and could block for good on a tracee that sleeps.  Look
	 * at the flag first (an atomic load when nothing is pending).
	 */
	if (PyErr_CheckSignals() < 0) {
		Py_DECREF(info);
		Py_DECREF(pc);
		Py_DECREF(regs);
		Py_DECREF(mem);
		return NULL;
	}
	for (;;) {
		Py_BEGIN_ALLOW_THREADS
		got = waitpid((pid_t)v[3], &status, __WALL);
		Py_END_ALLOW_THREADS
		if (got >= 0)
			break;
		if (errno != EINTR) {
			wait_errno = errno;
			got = 0;
			break;
		}
		if (PyErr_CheckSignals() < 0) {  /* e.g. KeyboardInterrupt */
			Py_DECREF(info);
			Py_DECREF(pc);
			Py_DECREF(regs);
			Py_DECREF(mem);
			return NULL;
		}
	}
	if (!wait_errno && WIFSTOPPED(status) && !(status >> 16) &&
	    WSTOPSIG(status) != (SIGTRAP | 0x80)) {
		PyObject *buf = PyBytes_FromStringAndSize(NULL, SIGINFO_SIZE);

		if (buf == NULL) {
			Py_DECREF(info);
			Py_DECREF(pc);
			Py_DECREF(regs);
			Py_DECREF(mem);
			return NULL;
		}
		if (ptrace(PTRACE_GETSIGINFO, got, NULL, PyBytes_AS_STRING(buf)) == -1) {
			info_errno = errno;
			Py_DECREF(buf);
		} else {
			Py_DECREF(info);
			info = buf;
		}
		if (v[5] > 0 && WSTOPSIG(status) == SIGTRAP) {
			char regbuf[4096];
			struct iovec iov = { regbuf, v[5] < (long)sizeof regbuf ? (size_t)v[5] : sizeof regbuf };

			if (ptrace(PTRACE_GETREGSET, got, (void *)NT_PRSTATUS, &iov) == 0) {
				PyObject *r = PyBytes_FromStringAndSize(regbuf, (Py_ssize_t)iov.iov_len);

				if (r != NULL) {
					Py_DECREF(regs);
					regs = r;
				} else {
					PyErr_Clear();  /* no registers: they are read again later */
				}
				if (r != NULL && got == (pid_t)v[0] && v[6] >= 0 && v[9] > 0 &&
				    (v[8] == 4 || v[8] == 8) &&
				    v[7] >= 0 && (size_t)(v[7] + v[8]) <= iov.iov_len)
					mem = read_at_sp(mem, (int)v[6], regbuf + v[7], (int)v[8], v[9]);
			}
		}
	}
	return result9(0, wait_errno, (int)got, status, info, info_errno, pc, regs, mem);
}

static PyMethodDef methods[] = {
	{"ptrace", (PyCFunction)(void (*)(void))fast_ptrace, METH_FASTCALL,
	 "ptrace(request, pid, addr, data) -> unsigned word"},
	{"last_errno", fast_last_errno, METH_NOARGS, "errno after the last ptrace()"},
	{"resume_wait", (PyCFunction)(void (*)(void))fast_resume_wait, METH_FASTCALL,
	 "resume_wait(tid, request, sig, wait_tid, pc_offset, regs_size, mem_fd, sp_offset, "
	 "sp_size, read_size) -> (resume_errno, wait_errno, tid, status, siginfo, "
	 "siginfo_errno, pc, regs, read)"},
	{NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
	PyModuleDef_HEAD_INIT, "_fastptrace",
	"The ptrace backend's hot system calls (optional; see ptrace.py).", -1, methods,
};

PyMODINIT_FUNC PyInit__fastptrace(void)
{
	return PyModule_Create(&module);
}
