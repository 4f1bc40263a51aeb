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
 *   resume_wait(tid, request, sig, wait_tid) -> tuple
 *       ptrace(request, tid, 0, sig) (PTRACE_CONT or PTRACE_SINGLESTEP),
 *       then waitpid(wait_tid, __WALL) with the GIL released, then
 *       PTRACE_GETSIGINFO of the task that stopped if the status is neither a
 *       PTRACE_EVENT stop nor a syscall-stop (SIGTRAP|0x80).  Returns
 *       (resume_errno, wait_errno, tid, status, siginfo bytes or None,
 *       siginfo_errno); when resume_errno is not 0 nothing else was done,
 *       when wait_errno is not 0 no task reported.  A signal that interrupts
 *       the wait runs its Python handler (Ctrl-C raises KeyboardInterrupt
 *       here, as os.waitpid would).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <errno.h>
#include <signal.h>
#include <sys/ptrace.h>
#include <sys/types.h>
#include <sys/wait.h>

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

static PyObject *fast_resume_wait(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
	long tid, request, sig, wait_tid;
	int status = 0, wait_errno = 0, info_errno = 0;
	pid_t got;
	PyObject *info = Py_None;
	PyObject *result;

	if (nargs != 4) {
		PyErr_SetString(PyExc_TypeError, "resume_wait(tid, request, sig, wait_tid)");
		return NULL;
	}
	tid = PyLong_AsLong(args[0]);
	request = PyLong_AsLong(args[1]);
	sig = PyLong_AsLong(args[2]);
	wait_tid = PyLong_AsLong(args[3]);
	if (PyErr_Occurred())
		return NULL;
	if (ptrace((enum __ptrace_request)request, (pid_t)tid, NULL, (void *)sig) == -1)
		return Py_BuildValue("(iiiiOi)", errno, 0, 0, 0, Py_None, 0);
	for (;;) {
		Py_BEGIN_ALLOW_THREADS
		got = waitpid((pid_t)wait_tid, &status, __WALL);
		Py_END_ALLOW_THREADS
		if (got >= 0)
			break;
		if (errno != EINTR) {
			wait_errno = errno;
			got = 0;
			break;
		}
		if (PyErr_CheckSignals() < 0)
			return NULL;  /* e.g. KeyboardInterrupt; the tracee is left running */
	}
	if (!wait_errno && WIFSTOPPED(status) && !(status >> 16) &&
	    WSTOPSIG(status) != (SIGTRAP | 0x80)) {
		info = PyBytes_FromStringAndSize(NULL, SIGINFO_SIZE);
		if (info == NULL)
			return NULL;
		if (ptrace(PTRACE_GETSIGINFO, got, NULL, PyBytes_AS_STRING(info)) == -1) {
			info_errno = errno;
			Py_DECREF(info);
			info = Py_None;
		}
	}
	result = Py_BuildValue("(iiiiOi)", 0, wait_errno, (int)got, status, info, info_errno);
	if (info != Py_None)
		Py_DECREF(info);
	return result;
}

static PyMethodDef methods[] = {
	{"ptrace", (PyCFunction)(void (*)(void))fast_ptrace, METH_FASTCALL,
	 "ptrace(request, pid, addr, data) -> unsigned word"},
	{"last_errno", fast_last_errno, METH_NOARGS, "errno after the last ptrace()"},
	{"resume_wait", (PyCFunction)(void (*)(void))fast_resume_wait, METH_FASTCALL,
	 "resume_wait(tid, request, sig, wait_tid) -> (resume_errno, wait_errno, tid, "
	 "status, siginfo, siginfo_errno)"},
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
