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
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <stdlib.h>
#include <string.h>
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


/*
 * The trace loop: plain deliveries served without Python, each written with a
 * delivery template.
 *
 * A template is made by sigdbg/engine/fastpath.py from the Python decoder and
 * writer themselves (never from offsets written here): the output of one
 * delivery of one "shape" as literal bytes and holes, each hole a field of
 * the layout tables (source buffer, offset, size) spelled in one of three
 * formats; and the key, the byte ranges of the same buffers the decoder's
 * output depends on besides the holes, which must be equal for the template
 * to apply.  The module only compares bytes and spells integers.
 */
enum { SRC_FRAME, SRC_REGS, SRC_PC, SRC_INFO, N_SRC };
enum { FMT_UDEC, FMT_HEXLE, FMT_HEXVAR };

struct piece {
	int src, off, size, fmt;   /* src < 0: literal */
	char *lit;
	Py_ssize_t len;
};

struct tmpl {
	long tid;
	Py_ssize_t regs_len, frame_len;  /* the exact regset and frame read sizes */
	int nkey, nops;
	struct piece *key, *ops;
	unsigned long hits;
};

#define MAX_TMPL 32

/*
 * Walk templates (--step-sigreturn; made by sigdbg/engine/faststep.py from
 * the Python walk itself).  A walk template is the *plan* of one plain walk
 * (the system calls the Python walk made, in order, with their constant
 * arguments: each op's result is one more source buffer), the key (bytes of
 * any source, checked as soon as that source is read: the Python walk's
 * next call depends on nothing else), the classes of the hole fields (the
 * fields the walk only copies or compares for equality: equal within a
 * class, different between classes of one size, as in the delivery that
 * made it) and the output.  Nothing about a frame, a register or a
 * restorer is known here.
 */
enum { OP_SIGMASK, OP_ENABLE, OP_CONT, OP_STEP, OP_REGS, OP_READ, OP_PENDING, OP_DISABLE,
       N_OP };
#define MAX_WOPS 24
#define MAX_WSRC (N_SRC + MAX_WOPS)
#define WBUF 4096  /* the largest op result (a regset, a frame read) */
#define STOP_LEN (6 * 4 + SIGINFO_SIZE)  /* rerr werr got status has_info ierr, siginfo */
#define MAX_WTMPL 32

struct wop {
	int op;
	unsigned long long addr;
	long size;
};

struct wtmpl {
	long tid;
	int dt;  /* the delivery template it follows */
	int nops;
	struct wop plan[MAX_WOPS];
	Py_ssize_t len[MAX_WOPS];  /* each result's exact length */
	int nkey, nmem, nout;
	struct piece *key, *mem, *out;  /* mem: fmt holds the class */
	int kbeg[MAX_WSRC + 1];  /* the key pieces of source i: kbeg[i] .. kbeg[i + 1] */
	unsigned long hits;
};

struct store {
	int n;
	struct tmpl t[MAX_TMPL];
	int nw;
	struct wtmpl w[MAX_WTMPL];
};

static void tmpl_free(struct tmpl *t)
{
	for (int i = 0; i < t->nkey; i++)
		PyMem_Free(t->key[i].lit);
	for (int i = 0; i < t->nops; i++)
		PyMem_Free(t->ops[i].lit);
	PyMem_Free(t->key);
	PyMem_Free(t->ops);
	memset(t, 0, sizeof *t);
}

static void wtmpl_free(struct wtmpl *t)
{
	for (int i = 0; i < t->nkey; i++)
		PyMem_Free(t->key[i].lit);
	for (int i = 0; i < t->nout; i++)
		PyMem_Free(t->out[i].lit);
	PyMem_Free(t->key);
	PyMem_Free(t->mem);
	PyMem_Free(t->out);
	memset(t, 0, sizeof *t);
}

static void store_destroy(PyObject *cap)
{
	struct store *s = PyCapsule_GetPointer(cap, "sigdbg.fastptrace.store");

	if (s == NULL)
		return;
	for (int i = 0; i < s->n; i++)
		tmpl_free(&s->t[i]);
	for (int i = 0; i < s->nw; i++)
		wtmpl_free(&s->w[i]);
	PyMem_Free(s);
}

static PyObject *fast_store_new(PyObject *self, PyObject *unused)
{
	struct store *s = PyMem_Calloc(1, sizeof *s);

	if (s == NULL)
		return PyErr_NoMemory();
	return PyCapsule_New(s, "sigdbg.fastptrace.store", store_destroy);
}

static struct store *get_store(PyObject *cap)
{
	return PyCapsule_GetPointer(cap, "sigdbg.fastptrace.store");
}

static PyObject *fast_store_clear(PyObject *self, PyObject *cap)
{
	struct store *s = get_store(cap);

	if (s == NULL)
		return NULL;
	for (int i = 0; i < s->n; i++)
		tmpl_free(&s->t[i]);
	s->n = 0;
	for (int i = 0; i < s->nw; i++)
		wtmpl_free(&s->w[i]);
	s->nw = 0;
	Py_RETURN_NONE;
}

/* a piece from bytes (a literal) or a tuple (src, off, size, fmt[, bytes]) */
static int piece_of(PyObject *o, struct piece *p, int with_bytes, int nsrc)
{
	char *buf;
	Py_ssize_t len;
	PyObject *b = o;

	memset(p, 0, sizeof *p);
	p->src = -1;
	if (PyTuple_Check(o)) {
		Py_ssize_t n = PyTuple_GET_SIZE(o);

		if (n != (with_bytes ? 3 : 4)) {
			PyErr_SetString(PyExc_ValueError, "bad template piece");
			return -1;
		}
		p->src = (int)PyLong_AsLong(PyTuple_GET_ITEM(o, 0));
		p->off = (int)PyLong_AsLong(PyTuple_GET_ITEM(o, 1));
		if (with_bytes) {
			b = PyTuple_GET_ITEM(o, 2);
		} else {
			p->size = (int)PyLong_AsLong(PyTuple_GET_ITEM(o, 2));
			p->fmt = (int)PyLong_AsLong(PyTuple_GET_ITEM(o, 3));
		}
		if (PyErr_Occurred())
			return -1;
		if (p->src < 0 || p->src >= nsrc || p->off < 0 || p->size < 0 ||
		    (!with_bytes && (p->size < 1 || p->fmt < FMT_UDEC || p->fmt > FMT_HEXVAR ||
				     (p->fmt != FMT_HEXLE && p->size > 8)))) {
			PyErr_SetString(PyExc_ValueError, "bad template piece");
			return -1;
		}
		if (!with_bytes)
			return 0;
	}
	if (PyBytes_AsStringAndSize(b, &buf, &len) < 0)
		return -1;
	p->lit = PyMem_Malloc(len ? (size_t)len : 1);
	if (p->lit == NULL) {
		PyErr_NoMemory();
		return -1;
	}
	memcpy(p->lit, buf, (size_t)len);
	p->len = len;
	if (with_bytes)
		p->size = (int)len;
	return 0;
}

static int pieces_of(PyObject *list, struct piece **out, int *n, int with_bytes, int nsrc)
{
	Py_ssize_t len;

	if (!PyList_Check(list)) {
		PyErr_SetString(PyExc_TypeError, "a list of template pieces");
		return -1;
	}
	len = PyList_GET_SIZE(list);
	*out = PyMem_Calloc(len ? (size_t)len : 1, sizeof **out);
	*n = 0;
	if (*out == NULL) {
		PyErr_NoMemory();
		return -1;
	}
	for (Py_ssize_t i = 0; i < len; i++) {
		if (piece_of(PyList_GET_ITEM(list, i), &(*out)[i], with_bytes, nsrc) < 0)
			return -1;
		*n = (int)i + 1;
	}
	return 0;
}

/* store_add(store, tid, regs_len, frame_len, key, ops) -> bool: key is
 * [(src, off, bytes)], ops [bytes | (src, off, size, fmt)]; False when the
 * store is full */
static PyObject *fast_store_add(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
	struct store *s;
	struct tmpl t;

	if (nargs != 6) {
		PyErr_SetString(PyExc_TypeError,
				"store_add(store, tid, regs_len, frame_len, key, ops)");
		return NULL;
	}
	s = get_store(args[0]);
	if (s == NULL)
		return NULL;
	if (s->n >= MAX_TMPL)
		Py_RETURN_FALSE;
	memset(&t, 0, sizeof t);
	t.tid = PyLong_AsLong(args[1]);
	t.regs_len = PyLong_AsSsize_t(args[2]);
	t.frame_len = PyLong_AsSsize_t(args[3]);
	if (PyErr_Occurred() ||
	    pieces_of(args[4], &t.key, &t.nkey, 1, N_SRC) < 0 ||
	    pieces_of(args[5], &t.ops, &t.nops, 0, N_SRC) < 0) {
		tmpl_free(&t);
		return NULL;
	}
	s->t[s->n++] = t;
	Py_RETURN_TRUE;
}

struct srcs {
	const unsigned char *p[MAX_WSRC];
	Py_ssize_t len[MAX_WSRC];
};

static int key_matches(const struct tmpl *t, const struct srcs *in)
{
	if (in->len[SRC_REGS] != t->regs_len || in->len[SRC_FRAME] != t->frame_len)
		return 0;
	for (int i = 0; i < t->nkey; i++) {
		const struct piece *k = &t->key[i];

		if (k->off + k->len > in->len[k->src] ||
		    memcmp(in->p[k->src] + k->off, k->lit, (size_t)k->len) != 0)
			return 0;
	}
	for (int i = 0; i < t->nops; i++) {
		const struct piece *o = &t->ops[i];

		if (o->src >= 0 && o->off + o->size > in->len[o->src])
			return 0;
	}
	return 1;
}

struct outbuf {
	char *p;
	size_t len, cap;
};

static int out_reserve(struct outbuf *b, size_t more)
{
	if (b->len + more <= b->cap)
		return 0;
	size_t cap = b->cap ? b->cap : 1 << 16;

	while (cap < b->len + more)
		cap *= 2;
	char *p = PyMem_Realloc(b->p, cap);

	if (p == NULL) {
		PyErr_NoMemory();
		return -1;
	}
	b->p = p;
	b->cap = cap;
	return 0;
}

static const char HEX[] = "0123456789abcdef";
/* the two lowercase hex digits of each byte value (filled at import) */
static char HEX2[256][2];

/* append one template's output for these sources */
static int render_ops(const struct piece *ops, int nops, const struct srcs *in, struct outbuf *b)
{
	for (int i = 0; i < nops; i++) {
		const struct piece *o = &ops[i];

		if (o->src < 0) {
			if (out_reserve(b, (size_t)o->len) < 0)
				return -1;
			memcpy(b->p + b->len, o->lit, (size_t)o->len);
			b->len += (size_t)o->len;
			continue;
		}
		const unsigned char *v = in->p[o->src] + o->off;

		if (out_reserve(b, 2 * (size_t)o->size + 24) < 0)
			return -1;
		char *w = b->p + b->len;

		if (o->fmt == FMT_HEXLE) {
			/* the little-endian bytes as one number, most significant first */
			for (int j = o->size - 1; j >= 0; j--) {
				memcpy(w, HEX2[v[j]], 2);
				w += 2;
			}
		} else {
			unsigned long long x = 0;
			char tmp[24];
			int n = 0;

			for (int j = o->size - 1; j >= 0; j--)
				x = (x << 8) | v[j];
			if (o->fmt == FMT_UDEC) {
				do {
					tmp[n++] = (char)('0' + x % 10);
					x /= 10;
				} while (x);
			} else {
				do {
					tmp[n++] = HEX[x & 15];
					x >>= 4;
				} while (x);
				*w++ = '0';
				*w++ = 'x';
			}
			while (n)
				*w++ = tmp[--n];
		}
		b->len = (size_t)(w - b->p);
	}
	return 0;
}

/* render(store, index, frame, regs, pc, siginfo) -> bytes or None when the
 * key does not match: the template applied outside the loop (tests) */
static int render(const struct tmpl *t, const struct srcs *in, struct outbuf *b)
{
	return render_ops(t->ops, t->nops, in, b);
}

static PyObject *fast_render(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
	struct store *s;
	struct srcs in;
	struct outbuf b = { NULL, 0, 0 };
	unsigned char pcb[8];
	long idx;
	unsigned long long pc;
	PyObject *r;

	if (nargs != 6) {
		PyErr_SetString(PyExc_TypeError, "render(store, index, frame, regs, pc, siginfo)");
		return NULL;
	}
	s = get_store(args[0]);
	if (s == NULL)
		return NULL;
	idx = PyLong_AsLong(args[1]);
	pc = PyLong_AsUnsignedLongLongMask(args[4]);
	if (PyErr_Occurred())
		return NULL;
	if (idx < 0 || idx >= s->n) {
		PyErr_SetString(PyExc_IndexError, "no such template");
		return NULL;
	}
	for (int i = 0; i < 8; i++)
		pcb[i] = (unsigned char)(pc >> (8 * i));
	memset(&in, 0, sizeof in);
	for (int i = 0; i < 3; i++) {
		PyObject *o = args[i == 0 ? 2 : i == 1 ? 3 : 5];
		int src = i == 0 ? SRC_FRAME : i == 1 ? SRC_REGS : SRC_INFO;
		char *p;

		if (PyBytes_AsStringAndSize(o, &p, &in.len[src]) < 0)
			return NULL;
		in.p[src] = (const unsigned char *)p;
	}
	in.p[SRC_PC] = pcb;
	in.len[SRC_PC] = 8;
	if (!key_matches(&s->t[idx], &in))
		Py_RETURN_NONE;
	if (render(&s->t[idx], &in, &b) < 0) {
		PyMem_Free(b.p);
		return NULL;
	}
	r = PyBytes_FromStringAndSize(b.p ? b.p : "", (Py_ssize_t)b.len);
	PyMem_Free(b.p);
	return r;
}


/* store_add_walk(store, tid, dt, plan, lens, key, members, out) -> bool:
 * plan [(op, addr, size)], lens [int] (each op's result length), key
 * [(src, off, bytes)], members [(src, off, size, class)], out as a delivery
 * template's ops; sources N_SRC.. are the plan's results in order.  False
 * when the store is full. */
static PyObject *fast_store_add_walk(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
	struct store *s;
	struct wtmpl t;
	PyObject *plan, *lens, *mem;
	Py_ssize_t n;

	if (nargs != 8) {
		PyErr_SetString(PyExc_TypeError,
				"store_add_walk(store, tid, dt, plan, lens, key, members, out)");
		return NULL;
	}
	s = get_store(args[0]);
	if (s == NULL)
		return NULL;
	if (s->nw >= MAX_WTMPL)
		Py_RETURN_FALSE;
	memset(&t, 0, sizeof t);
	t.tid = PyLong_AsLong(args[1]);
	t.dt = (int)PyLong_AsLong(args[2]);
	plan = args[3];
	lens = args[4];
	mem = args[6];
	if (PyErr_Occurred())
		return NULL;
	if (!PyList_Check(plan) || !PyList_Check(lens) || !PyList_Check(mem) ||
	    PyList_GET_SIZE(plan) != PyList_GET_SIZE(lens) || PyList_GET_SIZE(plan) > MAX_WOPS ||
	    PyList_GET_SIZE(plan) < 1 || t.dt < 0 || t.dt >= MAX_TMPL) {
		PyErr_SetString(PyExc_ValueError, "bad walk template");
		return NULL;
	}
	n = PyList_GET_SIZE(plan);
	t.nops = (int)n;
	for (Py_ssize_t i = 0; i < n; i++) {
		PyObject *o = PyList_GET_ITEM(plan, i);

		if (!PyTuple_Check(o) || PyTuple_GET_SIZE(o) != 3) {
			PyErr_SetString(PyExc_ValueError, "bad walk plan");
			return NULL;
		}
		t.plan[i].op = (int)PyLong_AsLong(PyTuple_GET_ITEM(o, 0));
		t.plan[i].addr = PyLong_AsUnsignedLongLongMask(PyTuple_GET_ITEM(o, 1));
		t.plan[i].size = PyLong_AsLong(PyTuple_GET_ITEM(o, 2));
		t.len[i] = PyLong_AsSsize_t(PyList_GET_ITEM(lens, i));
		if (PyErr_Occurred())
			return NULL;
		if (t.plan[i].op < 0 || t.plan[i].op >= N_OP || t.len[i] < 0 || t.len[i] > WBUF ||
		    (t.plan[i].op == OP_READ && (t.plan[i].size < 1 || t.plan[i].size > WBUF))) {
			PyErr_SetString(PyExc_ValueError, "bad walk plan");
			return NULL;
		}
	}
	if (pieces_of(args[5], &t.key, &t.nkey, 1, N_SRC + t.nops) < 0 ||
	    pieces_of(args[7], &t.out, &t.nout, 0, N_SRC + t.nops) < 0)
		goto bad;
	/* the key by source (a stable sort: a piece's order within its source kept) */
	{
		struct piece *sorted = PyMem_Calloc(t.nkey ? (size_t)t.nkey : 1, sizeof *sorted);
		int k = 0;

		if (sorted == NULL) {
			PyErr_NoMemory();
			goto bad;
		}
		for (int src = 0; src < MAX_WSRC; src++) {
			t.kbeg[src] = k;
			for (int i = 0; i < t.nkey; i++)
				if (t.key[i].src == src)
					sorted[k++] = t.key[i];
		}
		t.kbeg[MAX_WSRC] = k;
		PyMem_Free(t.key);
		t.key = sorted;
	}
	n = PyList_GET_SIZE(mem);
	t.mem = PyMem_Calloc(n ? (size_t)n : 1, sizeof *t.mem);
	if (t.mem == NULL) {
		PyErr_NoMemory();
		goto bad;
	}
	for (Py_ssize_t i = 0; i < n; i++) {
		PyObject *o = PyList_GET_ITEM(mem, i);
		struct piece *m = &t.mem[i];

		if (!PyTuple_Check(o) || PyTuple_GET_SIZE(o) != 4) {
			PyErr_SetString(PyExc_ValueError, "bad walk member");
			goto bad;
		}
		m->src = (int)PyLong_AsLong(PyTuple_GET_ITEM(o, 0));
		m->off = (int)PyLong_AsLong(PyTuple_GET_ITEM(o, 1));
		m->size = (int)PyLong_AsLong(PyTuple_GET_ITEM(o, 2));
		m->fmt = (int)PyLong_AsLong(PyTuple_GET_ITEM(o, 3));
		if (PyErr_Occurred())
			goto bad;
		if (m->src < 0 || m->src >= N_SRC + t.nops || m->off < 0 || m->size < 1 ||
		    m->fmt < 0) {
			PyErr_SetString(PyExc_ValueError, "bad walk member");
			goto bad;
		}
		t.nmem = (int)i + 1;
	}
	s->w[s->nw++] = t;
	Py_RETURN_TRUE;
bad:
	wtmpl_free(&t);
	return NULL;
}

/* the key pieces of source ``src`` (and its length, for a plan result) */
static int wkey_matches(const struct wtmpl *t, const struct srcs *in, int src)
{
	if (src >= N_SRC && in->len[src] != t->len[src - N_SRC])
		return 0;
	for (int i = t->kbeg[src]; i < t->kbeg[src + 1]; i++) {
		const struct piece *k = &t->key[i];

		if (k->off + k->len > in->len[src] ||
		    memcmp(in->p[src] + k->off, k->lit, (size_t)k->len) != 0)
			return 0;
	}
	return 1;
}

struct rep {
	int size;
	const unsigned char *p;
};

static int rep_cmp(const void *a, const void *b)
{
	const struct rep *x = a, *y = b;

	if (x->size != y->size)
		return x->size < y->size ? -1 : 1;
	return memcmp(x->p, y->p, (size_t)x->size);
}

/* every source read: the classes hold (equal within, different between
 * classes of one size) and every hole is inside its source */
static int wfinal_matches(const struct wtmpl *t, const struct srcs *in)
{
	int first[256];
	int nc = 0, nr = 0;
	struct rep reps[256];

	for (int i = 0; i < t->nmem; i++) {
		const struct piece *m = &t->mem[i];

		if (m->off + m->size > in->len[m->src] || m->fmt >= 256)
			return 0;
		if (m->fmt >= nc) {
			for (int c = nc; c <= m->fmt; c++)
				first[c] = -1;
			nc = m->fmt + 1;
		}
		if (first[m->fmt] < 0) {
			first[m->fmt] = i;
			continue;
		}
		const struct piece *r = &t->mem[first[m->fmt]];

		if (r->size != m->size ||
		    memcmp(in->p[r->src] + r->off, in->p[m->src] + m->off, (size_t)m->size) != 0)
			return 0;
	}
	/* the classes' values, sorted: two classes of one value are neighbours */
	for (int c = 0; c < nc; c++) {
		if (first[c] < 0)
			continue;
		const struct piece *r = &t->mem[first[c]];

		reps[nr].size = r->size;
		reps[nr].p = in->p[r->src] + r->off;
		nr++;
	}
	qsort(reps, (size_t)nr, sizeof reps[0], rep_cmp);
	for (int i = 1; i < nr; i++)
		if (rep_cmp(&reps[i - 1], &reps[i]) == 0)
			return 0;
	for (int i = 0; i < t->nout; i++) {
		const struct piece *o = &t->out[i];

		if (o->src >= 0 && o->off + o->size > in->len[o->src])
			return 0;
	}
	return 1;
}

/* walk_render(store, index, sources) -> bytes or None: walk template
 * ``index`` applied to these sources (the delivery's four, then the plan's
 * results), None when its key or classes do not hold (tests, and the
 * template's own check) */
static PyObject *fast_walk_render(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
	struct store *s;
	struct srcs in;
	struct outbuf b = { NULL, 0, 0 };
	const struct wtmpl *t;
	long idx;
	PyObject *list, *r;

	if (nargs != 3) {
		PyErr_SetString(PyExc_TypeError, "walk_render(store, index, sources)");
		return NULL;
	}
	s = get_store(args[0]);
	if (s == NULL)
		return NULL;
	idx = PyLong_AsLong(args[1]);
	if (PyErr_Occurred())
		return NULL;
	if (idx < 0 || idx >= s->nw) {
		PyErr_SetString(PyExc_IndexError, "no such walk template");
		return NULL;
	}
	t = &s->w[idx];
	list = args[2];
	if (!PyList_Check(list) || PyList_GET_SIZE(list) != N_SRC + t->nops) {
		PyErr_SetString(PyExc_ValueError, "walk_render: one bytes per source");
		return NULL;
	}
	memset(&in, 0, sizeof in);
	for (int i = 0; i < N_SRC + t->nops; i++) {
		char *p;

		if (PyBytes_AsStringAndSize(PyList_GET_ITEM(list, i), &p, &in.len[i]) < 0)
			return NULL;
		in.p[i] = (const unsigned char *)p;
	}
	for (int i = 0; i < N_SRC + t->nops; i++)
		if (!wkey_matches(t, &in, i))
			Py_RETURN_NONE;
	if (!wfinal_matches(t, &in))
		Py_RETURN_NONE;
	if (render_ops(t->out, t->nout, &in, &b) < 0) {
		PyMem_Free(b.p);
		return NULL;
	}
	r = PyBytes_FromStringAndSize(b.p ? b.p : "", (Py_ssize_t)b.len);
	PyMem_Free(b.p);
	return r;
}

static int wait_for(pid_t pid, pid_t *got, int *status)
{
	for (;;) {
		pid_t g;

		Py_BEGIN_ALLOW_THREADS
		g = waitpid(pid, status, __WALL);
		Py_END_ALLOW_THREADS
		if (g >= 0) {
			*got = g;
			return 0;
		}
		if (errno != EINTR)
			return errno;
		if (PyErr_CheckSignals() < 0)
			return -1;
	}
}

static PyObject *bytes_or_none(const void *p, Py_ssize_t n, int ok)
{
	if (!ok)
		Py_RETURN_NONE;
	return PyBytes_FromStringAndSize(p, n);
}

enum { LOOP_STOP, LOOP_MISS, LOOP_OTHER, LOOP_FULL, LOOP_INTR, LOOP_PASS_MISS, LOOP_WALK };

#ifndef PTRACE_GETSIGMASK
#define PTRACE_GETSIGMASK 0x420a
#endif
#ifndef PTRACE_PEEKSIGINFO
#define PTRACE_PEEKSIGINFO 0x4209
#endif
#define PERF_IOC_ENABLE 0x2400   /* linux/perf_event.h _IO('$', 0) */
#define PERF_IOC_DISABLE 0x2401  /* _IO('$', 1) */
#define PEEK_MAX 16              /* as backends/ptrace.py _PEEK_MAX */

/* what a walk did: the plan ops made so far and their results */
struct wstate {
	unsigned char *buf;  /* MAX_WOPS results of WBUF bytes */
	int nops;
	struct wop done[MAX_WOPS];
	Py_ssize_t len[MAX_WOPS];
	int enabled;  /* the breakpoint was enabled and not disabled since */
};

static void put32(unsigned char *p, int v)
{
	memcpy(p, &v, 4);
}

/*
 * Follow the walk templates of delivery template ``dt``: each op of their
 * common plan is made, its result checked against their keys at once (what
 * the Python walk does next depends only on key bytes), until one plan is
 * complete with its classes holding: then its output is appended to ``b``
 * (1).  Otherwise (0) ``ws`` holds the ops made, for the Python walk to
 * replay and carry on from; a read that fails is not made at all (the
 * Python walk makes it again).  -1: a Python error; -2: the wait was
 * interrupted and the Python signal handler raised.
 */
static int walk_exec(struct store *s, int dt, pid_t tid, long memfd, long perf_fd,
		     unsigned long long perf_addr, struct srcs *in, struct outbuf *b,
		     struct wstate *ws)
{
	int cand[MAX_WTMPL], nc = 0;
	static unsigned char peek[PEEK_MAX * SIGINFO_SIZE];

	ws->nops = 0;
	ws->enabled = 0;
	for (int i = 0; i < s->nw; i++) {
		const struct wtmpl *t = &s->w[i];
		int ok = t->dt == dt && t->tid == (long)tid;

		for (int src = 0; ok && src < N_SRC; src++)
			ok = wkey_matches(t, in, src);
		if (ok)
			cand[nc++] = i;
	}
	for (int i = 0;; i++) {
		int ended = 0, k = 0;
		const struct wop *op;
		unsigned char *r;
		Py_ssize_t n = 0;
		int stop = 0;

		for (int c = 0; c < nc; c++) {
			struct wtmpl *t = &s->w[cand[c]];

			if (t->nops != i)
				continue;
			ended = 1;
			if (wfinal_matches(t, in)) {
				if (render_ops(t->out, t->nout, in, b) < 0)
					return -1;
				t->hits++;
				return 1;
			}
		}
		if (ended || nc == 0 || i >= MAX_WOPS)
			return 0;
		op = &s->w[cand[0]].plan[i];
		for (int c = 1; c < nc; c++) {
			const struct wop *o = &s->w[cand[c]].plan[i];

			if (o->op != op->op || o->addr != op->addr || o->size != op->size)
				return 0;  /* (cannot be: equal keys, equal calls) */
		}
		r = ws->buf + (size_t)i * WBUF;
		switch (op->op) {
		case OP_SIGMASK:
			if (ptrace(PTRACE_GETSIGMASK, tid, (void *)8, r) == -1)
				return 0;
			n = 8;
			break;
		case OP_ENABLE:
		case OP_DISABLE: {
			int e;

			if (perf_fd < 0 || perf_addr != op->addr)
				return 0;
			e = ioctl((int)perf_fd, op->op == OP_ENABLE ? PERF_IOC_ENABLE : PERF_IOC_DISABLE,
				  0) == -1 ? errno : 0;
			ws->enabled = op->op == OP_ENABLE && e == 0;
			put32(r, e);
			n = 4;
			break;
		}
		case OP_CONT:
		case OP_STEP: {
			int rerr = 0, werr = 0, status = 0, has_info = 0, ierr = 0, e;
			pid_t got = 0;

			memset(r, 0, STOP_LEN);
			if (ptrace(op->op == OP_CONT ? PTRACE_CONT : PTRACE_SINGLESTEP, tid, NULL,
				   NULL) == -1) {
				rerr = errno;
			} else {
				e = wait_for(tid, &got, &status);
				if (e < 0) {
					if (ws->enabled)
						ioctl((int)perf_fd, PERF_IOC_DISABLE, 0);
					return -2;
				}
				werr = e;
			}
			if (!rerr && !werr && WIFSTOPPED(status) && !(status >> 16) &&
			    WSTOPSIG(status) != (SIGTRAP | 0x80)) {
				if (ptrace(PTRACE_GETSIGINFO, got, NULL, r + 24) == -1)
					ierr = errno;
				else
					has_info = 1;
			}
			put32(r, rerr);
			put32(r + 4, werr);
			put32(r + 8, (int)got);
			put32(r + 12, status);
			put32(r + 16, has_info);
			put32(r + 20, ierr);
			n = STOP_LEN;
			stop = rerr || werr;
			break;
		}
		case OP_REGS: {
			struct iovec iov = { r, WBUF };

			if (ptrace(PTRACE_GETREGSET, tid, (void *)NT_PRSTATUS, &iov) != 0)
				return 0;
			n = (Py_ssize_t)iov.iov_len;
			break;
		}
		case OP_READ:
			if (memfd < 0 || op->addr >= (1ULL << 63) - (unsigned long long)op->size)
				return 0;
			/* as PtraceTask.read_upto: until the size, a failure or nothing */
			while (n < op->size) {
				ssize_t got;

				Py_BEGIN_ALLOW_THREADS
				got = pread((int)memfd, r + n, (size_t)(op->size - n),
					    (off_t)(op->addr + (unsigned long long)n));
				Py_END_ALLOW_THREADS
				if (got <= 0)
					break;
				n += got;
			}
			break;
		case OP_PENDING: {
			/* as PtraceTask.pending_signals: the private queue, then the shared */
			unsigned long long bits = 0;

			for (int shared = 0; shared < 2; shared++) {
				struct {
					unsigned long long off;
					unsigned int flags;
					int nr;
				} a = { 0, (unsigned int)shared, PEEK_MAX };
				long got = ptrace(PTRACE_PEEKSIGINFO, tid, &a, peek);

				if (got < 0)
					return 0;
				for (long j = 0; j < got; j++) {
					int signo;

					memcpy(&signo, peek + j * SIGINFO_SIZE, 4);
					if (signo > 0 && signo <= 64)
						bits |= 1ULL << (signo - 1);
				}
			}
			for (int j = 0; j < 8; j++)
				r[j] = (unsigned char)(bits >> (8 * j));
			n = 8;
			break;
		}
		default:
			return 0;
		}
		ws->done[i] = *op;
		ws->len[i] = n;
		ws->nops = i + 1;
		in->p[N_SRC + i] = r;
		in->len[N_SRC + i] = n;
		if (stop)
			return 0;
		for (int c = 0; c < nc; c++)
			if (wkey_matches(&s->w[cand[c]], in, N_SRC + i))
				cand[k++] = cand[c];
		nc = k;
	}
}

/* the ops a walk made, for Python: [(op, addr, size, result)] */
static PyObject *wstate_list(const struct wstate *ws)
{
	PyObject *l = PyList_New(ws->nops);

	if (l == NULL)
		return NULL;
	for (int i = 0; i < ws->nops; i++) {
		PyObject *t = Py_BuildValue("(iKly#)", ws->done[i].op, ws->done[i].addr,
					    ws->done[i].size, (const char *)ws->buf + (size_t)i * WBUF,
					    ws->len[i]);

		if (t == NULL) {
			Py_DECREF(l);
			return NULL;
		}
		PyList_SET_ITEM(l, i, t);
	}
	return l;
}

/*
 * trace_loop(store, tid, sig, fds, served, handler_code, pc_offset, regs_size,
 *            read_size, max_count, max_bytes)
 *   -> (kind, out, count, stid, dinfo, dpc, rerr, werr, got, status, info,
 *       ierr, regs, data)
 *
 * Resume ``tid`` (stopped) with PTRACE_CONT and ``sig``; then, for every stop:
 * a signal-delivery-stop of a task in ``fds`` ({tid: (mem fd, sp offset, sp
 * size)}) whose signal is in ``served`` (bit n-1 = signal n) is stepped into
 * its handler (PEEKUSER pc, PTRACE_SINGLESTEP with the signal, wait,
 * GETSIGINFO, GETREGSET, pread of the frame; the wait is for that task
 * alone: another task's stop stays queued in the kernel for the next wait,
 * where the Python path would take it first -- the order of two tasks'
 * stops is the scheduler's either way) and, when a template's key
 * matches, written to ``out`` and resumed: no Python.  Returns when
 *   LOOP_STOP   the stop is not such a delivery: (rerr, werr, got, status,
 *               info, ierr) as resume_wait gives them;
 *   LOOP_MISS   the step reached the handler but no template matched: stid
 *               is the task, dinfo/dpc the delivery's siginfo and pc, the
 *               rest the handler-entry stop with regs and frame bytes;
 *   LOOP_OTHER  the step ended otherwise (or failed: rerr): as LOOP_MISS,
 *               for a stop of any task;
 *   LOOP_FULL   max_count deliveries or max_bytes written: stid (= got) is
 *               stopped at its handler's entry, regs its registers (in pass
 *               mode: at its delivery, owed the signal in status);
 *   LOOP_INTR   a signal for the tracer interrupted a wait and its Python
 *               handler raised: the exception is the last item, to be raised
 *               once ``out`` is written (nothing rendered is lost).
 * The last item is None unless LOOP_INTR.
 *
 * ``handler_code`` < 0 is pass mode (trace --no-frame): such a delivery is
 * not stepped into but written with a template of its siginfo and pc (read
 * with PEEKUSER) and resumed with its signal;
 *   LOOP_PASS_MISS  no template matched: the stop (got, status, info) is the
 *                   delivery's, still to be handled; dpc its pc.
 * A task stopped by the loop with a signal owed is resumed with it (cursig).
 *
 * ``step`` true (--step-sigreturn): a delivery written with a template is
 * followed through its handler's sigreturn by the walk templates made after
 * that delivery template (walk_exec; ``fds`` entries then carry the task's
 * perf_event breakpoint fd and address too: (fd, sp offset, sp size, perf
 * fd, perf address)); the walk's output follows the delivery's, and the
 * loop goes on from the restored context.  A walk no template serves
 * ends the loop:
 *   LOOP_WALK   the delivery is written (stid, dinfo, dpc, regs and data as
 *               for LOOP_MISS: its handler entry); ``walk`` (the item after
 *               the exception) is (delivery template index, [(op, addr,
 *               size, result)]) -- what the walk did after the handler's
 *               entry, for the Python walk to replay and carry on from.
 */
static PyObject *fast_trace_loop(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
	struct store *s;
	long cur, cursig, handler_code, pc_offset, regs_size, read_size, max_count, max_bytes;
	unsigned long long served;
	PyObject *fds;
	struct outbuf b = { NULL, 0, 0 };
	long count = 0;
	int kind = LOOP_STOP, rerr = 0, werr = 0, status = 0, ierr = 0, status2 = 0;
	pid_t got = 0;
	unsigned char info[SIGINFO_SIZE], dinfo[SIGINFO_SIZE], pcb[8];
	int have_info = 0, have_dinfo = 0, have_pc = 0, have_regs = 0, have_data = 0;
	static char regbuf[4096];
	char *data = NULL;
	Py_ssize_t regs_len = 0, data_len = 0;
	long stid = 0;
	PyObject *res = NULL, *exc = NULL, *walk = NULL;
	long step;
	struct wstate ws;
	int walk_dt = -1;

	memset(&ws, 0, sizeof ws);
	if (nargs != 12) {
		PyErr_SetString(PyExc_TypeError, "trace_loop(store, tid, sig, fds, served, "
				"handler_code, pc_offset, regs_size, read_size, max_count, max_bytes, "
				"step)");
		return NULL;
	}
	s = get_store(args[0]);
	if (s == NULL)
		return NULL;
	cur = PyLong_AsLong(args[1]);
	cursig = PyLong_AsLong(args[2]);
	fds = args[3];
	served = PyLong_AsUnsignedLongLongMask(args[4]);
	handler_code = PyLong_AsLong(args[5]);
	pc_offset = PyLong_AsLong(args[6]);
	regs_size = PyLong_AsLong(args[7]);
	read_size = PyLong_AsLong(args[8]);
	max_count = PyLong_AsLong(args[9]);
	max_bytes = PyLong_AsLong(args[10]);
	step = PyLong_AsLong(args[11]);
	if (PyErr_Occurred())
		return NULL;
	if (!PyDict_Check(fds) || regs_size <= 0 || regs_size > (long)sizeof regbuf ||
	    read_size <= 0) {
		PyErr_SetString(PyExc_ValueError, "trace_loop: bad arguments");
		return NULL;
	}
	data = PyMem_Malloc((size_t)read_size);
	if (data == NULL)
		return PyErr_NoMemory();
	if (step) {
		ws.buf = PyMem_Malloc((size_t)MAX_WOPS * WBUF);
		if (ws.buf == NULL) {
			PyMem_Free(data);
			return PyErr_NoMemory();
		}
	}

	for (;;) {
		long fd, sp_off, sp_size, perf_fd = -1;
		unsigned long long perf_addr = 0;
		PyObject *entry, *key;
		int sig, e;
		unsigned long long sp = 0;

		have_info = have_dinfo = have_pc = have_regs = have_data = 0;
		ierr = 0;
		if (count > 0 && (count >= max_count || b.len >= (size_t)max_bytes)) {
			kind = LOOP_FULL;
			stid = cur;
			got = (pid_t)cur;
			status = (int)cursig;  /* the signal it is owed (pass mode) */
			/* of cur, read at its handler entry (after its walk: none) */
			have_regs = handler_code >= 0 && !step;
			break;
		}
		if (ptrace(PTRACE_CONT, (pid_t)cur, NULL, (void *)cursig) == -1) {
			rerr = errno;
			kind = LOOP_STOP;
			got = 0;
			break;
		}
		if (PyErr_CheckSignals() < 0)
			goto intr;
		e = wait_for(-1, &got, &status);
		if (e < 0)
			goto intr;
		if (e > 0) {
			werr = e;
			got = 0;
			kind = LOOP_STOP;
			break;
		}
		kind = LOOP_STOP;
		if (!WIFSTOPPED(status) || (status >> 16) || WSTOPSIG(status) == (SIGTRAP | 0x80))
			break;
		if (ptrace(PTRACE_GETSIGINFO, got, NULL, info) == -1) {
			ierr = errno;
			break;
		}
		have_info = 1;
		sig = WSTOPSIG(status);
		{
			int code;

			memcpy(&code, info + 8, sizeof code);
			if (sig == SIGTRAP || sig < 1 || sig > 64 || !(served >> (sig - 1) & 1) ||
			    code == (0x8000 | sig))
				break;
		}
		key = PyLong_FromLong(got);
		if (key == NULL)
			goto fail;
		entry = PyDict_GetItemWithError(fds, key);
		Py_DECREF(key);
		if (entry == NULL) {
			if (PyErr_Occurred())
				goto fail;
			break;  /* a task the session does not know yet */
		}
		if (!PyTuple_Check(entry) ||
		    (PyTuple_GET_SIZE(entry) != 3 && PyTuple_GET_SIZE(entry) != 5)) {
			PyErr_SetString(PyExc_TypeError, "fds: {tid: (fd, sp_offset, sp_size"
					"[, perf_fd, perf_address])}");
			goto fail;
		}
		fd = PyLong_AsLong(PyTuple_GET_ITEM(entry, 0));
		sp_off = PyLong_AsLong(PyTuple_GET_ITEM(entry, 1));
		sp_size = PyLong_AsLong(PyTuple_GET_ITEM(entry, 2));
		if (PyTuple_GET_SIZE(entry) == 5) {
			perf_fd = PyLong_AsLong(PyTuple_GET_ITEM(entry, 3));
			perf_addr = PyLong_AsUnsignedLongLongMask(PyTuple_GET_ITEM(entry, 4));
		}
		if (PyErr_Occurred())
			goto fail;

		/* a plain delivery: step into its handler */
		stid = got;
		memcpy(dinfo, info, sizeof dinfo);
		have_dinfo = 1;
		have_info = 0;
		kind = LOOP_OTHER;
		memset(pcb, 0, sizeof pcb);
		if (pc_offset >= 0) {
			long word;

			errno = 0;
			word = ptrace(PTRACE_PEEKUSER, (pid_t)stid, (void *)pc_offset, NULL);
			if (!(word == -1 && errno)) {
				for (int i = 0; i < 8; i++)
					pcb[i] = (unsigned char)((unsigned long)word >> (8 * i));
				have_pc = 1;
			}
		}
		if (handler_code < 0) {
			/* pass mode: written as passed on, resumed with its signal */
			struct srcs in;
			int hit = -1;

			memset(&in, 0, sizeof in);
			in.p[SRC_FRAME] = in.p[SRC_REGS] = pcb;  /* (empty) */
			in.p[SRC_PC] = pcb;
			in.len[SRC_PC] = have_pc ? 8 : 0;
			in.p[SRC_INFO] = dinfo;
			in.len[SRC_INFO] = SIGINFO_SIZE;
			for (int i = 0; i < s->n; i++) {
				if (s->t[i].tid == stid && key_matches(&s->t[i], &in)) {
					hit = i;
					break;
				}
			}
			if (hit < 0) {
				kind = LOOP_PASS_MISS;
				have_info = 1;  /* the stop is the delivery's */
				break;
			}
			if (render(&s->t[hit], &in, &b) < 0)
				goto fail;
			s->t[hit].hits++;
			count++;
			cur = stid;
			cursig = sig;
			continue;
		}
		if (ptrace(PTRACE_SINGLESTEP, (pid_t)stid, NULL, (void *)(long)sig) == -1) {
			rerr = errno;
			got = 0;
			break;
		}
		e = wait_for((pid_t)stid, &got, &status2);
		if (e < 0)
			goto intr;
		status = status2;
		if (e > 0) {
			werr = e;
			got = 0;
			break;
		}
		if (!WIFSTOPPED(status) || (status >> 16) || WSTOPSIG(status) == (SIGTRAP | 0x80))
			break;
		if (ptrace(PTRACE_GETSIGINFO, got, NULL, info) == -1) {
			ierr = errno;
			break;
		}
		have_info = 1;
		if (WSTOPSIG(status) != SIGTRAP)
			break;
		{
			struct iovec iov = { regbuf, (size_t)regs_size };

			if (ptrace(PTRACE_GETREGSET, got, (void *)NT_PRSTATUS, &iov) != 0)
				break;
			have_regs = 1;
			regs_len = (Py_ssize_t)iov.iov_len;
		}
		if (got != (pid_t)stid)
			break;
		if (fd >= 0 && (sp_size == 4 || sp_size == 8) && sp_off >= 0 &&
		    sp_off + sp_size <= regs_len) {
			for (int i = (int)sp_size - 1; i >= 0; i--)
				sp = (sp << 8) | (unsigned char)regbuf[sp_off + i];
			if (sp < (1ULL << 63)) {
				ssize_t n;

				Py_BEGIN_ALLOW_THREADS
				n = pread((int)fd, data, (size_t)read_size, (off_t)sp);
				Py_END_ALLOW_THREADS
				if (n > 0) {
					have_data = 1;
					data_len = n;
				}
			}
		}
		{
			int code;

			memcpy(&code, info + 8, sizeof code);
			if (status != ((SIGTRAP << 8) | 0x7f) || code != handler_code || !have_data)
				break;
		}
		kind = LOOP_MISS;
		{
			struct srcs in;
			int hit = -1;

			in.p[SRC_FRAME] = (const unsigned char *)data;
			in.len[SRC_FRAME] = data_len;
			in.p[SRC_REGS] = (const unsigned char *)regbuf;
			in.len[SRC_REGS] = regs_len;
			in.p[SRC_PC] = pcb;
			in.len[SRC_PC] = have_pc ? 8 : 0;
			in.p[SRC_INFO] = dinfo;
			in.len[SRC_INFO] = SIGINFO_SIZE;
			for (int i = 0; i < s->n; i++) {
				if (s->t[i].tid == stid && key_matches(&s->t[i], &in)) {
					hit = i;
					break;
				}
			}
			if (hit < 0)
				break;
			if (render(&s->t[hit], &in, &b) < 0)
				goto fail;
			s->t[hit].hits++;
			if (step) {
				int w = walk_exec(s, hit, (pid_t)stid, fd, perf_fd, perf_addr, &in, &b,
						  &ws);

				if (w == -2) {
					count++;  /* (its delivery is written) */
					goto intr;
				}
				if (w < 0)
					goto fail;
				if (w == 0) {
					kind = LOOP_WALK;
					walk_dt = hit;
					count++;
					break;
				}
			}
		}
		count++;
		cur = stid;
		cursig = 0;
	}
	if (0) {
		PyObject *et, *ev, *tb;
intr:
		PyErr_Fetch(&et, &ev, &tb);
		PyErr_NormalizeException(&et, &ev, &tb);
		if (ev == NULL) {
			Py_XDECREF(et);
			Py_XDECREF(tb);
			goto fail;
		}
		if (tb != NULL)
			PyException_SetTraceback(ev, tb);
		Py_XDECREF(et);
		Py_XDECREF(tb);
		exc = ev;
		kind = LOOP_INTR;
		got = 0;
		have_info = have_regs = have_data = 0;
	}
	if (exc == NULL) {
		exc = Py_None;
		Py_INCREF(exc);
	}
	if (kind == LOOP_WALK) {
		PyObject *l = wstate_list(&ws);

		if (l == NULL) {
			Py_DECREF(exc);
			goto fail;
		}
		walk = Py_BuildValue("(iN)", walk_dt, l);
		if (walk == NULL) {
			Py_DECREF(exc);
			goto fail;
		}
	} else {
		walk = Py_None;
		Py_INCREF(walk);
	}
	res = Py_BuildValue("(iy#lkNNiiiiNiNNNN)", kind, b.p ? b.p : "", (Py_ssize_t)b.len, count,
			    (unsigned long)stid,
			    have_dinfo ? PyBytes_FromStringAndSize((char *)dinfo, SIGINFO_SIZE)
				       : (Py_INCREF(Py_None), Py_None),
			    have_pc ? PyLong_FromUnsignedLongLong(
					      (unsigned long long)pcb[0] | (unsigned long long)pcb[1] << 8 |
					      (unsigned long long)pcb[2] << 16 | (unsigned long long)pcb[3] << 24 |
					      (unsigned long long)pcb[4] << 32 | (unsigned long long)pcb[5] << 40 |
					      (unsigned long long)pcb[6] << 48 | (unsigned long long)pcb[7] << 56)
				    : (Py_INCREF(Py_None), Py_None),
			    rerr, werr, (int)got, status,
			    bytes_or_none(info, SIGINFO_SIZE, have_info), ierr,
			    bytes_or_none(regbuf, regs_len, have_regs),
			    bytes_or_none(data, data_len, have_data), exc, walk);
	PyMem_Free(b.p);
	PyMem_Free(data);
	PyMem_Free(ws.buf);
	return res;
fail:
	PyMem_Free(b.p);
	PyMem_Free(data);
	PyMem_Free(ws.buf);
	return NULL;
}

static PyMethodDef methods[] = {
	{"ptrace", (PyCFunction)(void (*)(void))fast_ptrace, METH_FASTCALL,
	 "ptrace(request, pid, addr, data) -> unsigned word"},
	{"last_errno", fast_last_errno, METH_NOARGS, "errno after the last ptrace()"},
	{"resume_wait", (PyCFunction)(void (*)(void))fast_resume_wait, METH_FASTCALL,
	 "resume_wait(tid, request, sig, wait_tid, pc_offset, regs_size, mem_fd, sp_offset, "
	 "sp_size, read_size) -> (resume_errno, wait_errno, tid, status, siginfo, "
	 "siginfo_errno, pc, regs, read)"},
	{"store_new", fast_store_new, METH_NOARGS, "store_new() -> a template store"},
	{"store_clear", fast_store_clear, METH_O, "store_clear(store): forget every template"},
	{"store_add", (PyCFunction)(void (*)(void))fast_store_add, METH_FASTCALL,
	 "store_add(store, tid, regs_len, frame_len, key, ops) -> False when full"},
	{"render", (PyCFunction)(void (*)(void))fast_render, METH_FASTCALL,
	 "render(store, index, frame, regs, pc, siginfo) -> bytes or None"},
	{"trace_loop", (PyCFunction)(void (*)(void))fast_trace_loop, METH_FASTCALL,
	 "trace_loop(store, tid, sig, fds, served, handler_code, pc_offset, regs_size, "
	 "read_size, max_count, max_bytes, step) -> tuple (see the source)"},
	{"store_add_walk", (PyCFunction)(void (*)(void))fast_store_add_walk, METH_FASTCALL,
	 "store_add_walk(store, tid, dt, plan, lens, key, members, out) -> False when full"},
	{"walk_render", (PyCFunction)(void (*)(void))fast_walk_render, METH_FASTCALL,
	 "walk_render(store, index, sources) -> bytes or None"},
	{NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
	PyModuleDef_HEAD_INIT, "_fastptrace",
	"The ptrace backend's hot system calls (optional; see ptrace.py).", -1, methods,
};

PyMODINIT_FUNC PyInit__fastptrace(void)
{
	for (int i = 0; i < 256; i++) {
		HEX2[i][0] = HEX[i >> 4];
		HEX2[i][1] = HEX[i & 15];
	}
	return PyModule_Create(&module);
}
