"""Human text for the model objects (the JSON comes from ``to_json``).

Every string that came from the target (argv, AT_EXECFN, paths, symbol
names) goes through :func:`safe`, so a target cannot put terminal escape
sequences on the user's screen.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from sigdbg.abi import abi_by_name
from sigdbg.abi.aarch64.a64frame import A64Frame, A64Record
from sigdbg.abi.arm.a32frame import A32Frame, A32Record
from sigdbg.abi.fpview import FpView
from sigdbg.decode.altstack import AltstackUse
from sigdbg.decode.auxv import AuxvReport
from sigdbg.decode.memmap import MemoryMap
from sigdbg.decode.restorer import Restorer
from sigdbg.decode.sigframe import SigFrame
from sigdbg.decode.siginfo import SigInfo
from sigdbg.decode.specialpages import SpecialPage
from sigdbg.decode.vdso import FixedPageReport, VdsoReport
from sigdbg.names import signal_name
from sigdbg.textsafe import safe


@dataclass(frozen=True)
class Style:
    """ANSI colour, only when wanted: NO_COLOR unset and output is a terminal;
    and strace's ``-s``: target strings longer than ``max_string`` characters
    are cut there and marked with ``...`` (0: never cut)."""

    color: bool = False
    max_string: int = 0

    def text(self, s: str) -> str:
        """A string from the target: cut to ``max_string``, control characters escaped."""
        if self.max_string and len(s) > self.max_string:
            return safe(s[: self.max_string]) + "..."
        return safe(s)

    @classmethod
    def for_stream(cls, stream: object, force: bool | None = None) -> Style:
        if force is not None:
            return cls(force)
        if os.environ.get("NO_COLOR"):
            return cls(False)
        isatty = getattr(stream, "isatty", None)
        return cls(bool(isatty and isatty()))

    def _c(self, code: str, s: str) -> str:
        return f"\x1b[{code}m{s}\x1b[0m" if self.color else s

    def head(self, s: str) -> str:
        return self._c("1", s)

    def name(self, s: str) -> str:
        return self._c("36", s)

    def addr(self, s: str) -> str:
        return self._c("33", s)

    def warn(self, s: str) -> str:
        return self._c("31", s)

    def dim(self, s: str) -> str:
        return self._c("2", s)


PLAIN = Style(False)


def hx(v: int | None) -> str:
    return "-" if v is None else f"{v:#x}"


# -- auxv -------------------------------------------------------------------------------
def render_auxv(r: AuxvReport, st: Style = PLAIN) -> str:
    out = [st.head(f"auxv of pid {r.pid} ({r.abi}): {len(r.entries)} entries at "
                   f"{r.auxv_address:#x} on the initial stack "
                   f"(argc {r.argc} at {r.start_stack:#x}, {r.envc} environment strings)")]
    width = max((len(e.label) for e in r.entries), default=10)
    for e in r.entries:
        val = st.addr(f"{e.value:#x}") if e.kind in ("addr", "str", "bytes16") else (
            f"{e.value:#x}" if e.kind.startswith("hwcap") or e.kind == "flags" else str(e.value))
        extra = []
        if e.string is not None:
            extra.append(f'"{safe(e.string)}"')
        if e.data is not None:
            extra.append(e.data.hex())
        if e.flags:
            extra.append(" ".join(e.flags))
        if e.symbol:
            extra.append(f"<{safe(e.symbol)}>")
        if e.mapping:
            extra.append(f"in {safe(e.mapping)}")
        if e.problem:
            extra.append(st.warn(f"[{e.problem}]"))
        line = f"  {st.name(e.label.ljust(width))} {e.type:>3}  {val}"
        if extra:
            line += "  " + "  ".join(extra)
        line += "  " + st.dim(f"-- {e.description}")
        out.append(line)
    src = safe(r.checked_against)
    if r.proc_checked:
        if r.differences:
            out.append(st.warn(f"  {src} DIFFERS from the stack:"))
            out.extend("    " + d for d in r.differences)
        else:
            out.append(st.dim(f"  {src}: identical to the vector on the stack"))
    else:
        out.append(st.warn(f"  {src} not available: not cross-checked"))
    return "\n".join(out)


# -- maps ---------------------------------------------------------------------------------
def render_maps(m: MemoryMap, st: Style = PLAIN, explain: bool = True) -> str:
    out = [st.head(f"{'start':>16} {'end':>16} perm {'size':>9}  path")]
    specials = []
    for x in m.mappings:
        path = safe(x.path)
        sp = x.special
        if sp is not None:
            path = st.name(path)
            if sp not in specials:
                specials.append(sp)
        out.append(f"{x.start:16x} {x.end:16x} {x.perms} {x.size:9x}  {path}")
    if explain and specials:
        out.append("")
        out.append(st.head("special mappings:"))
        for sp in specials:
            out.append(f"  {st.name(sp.name)}: {sp.purpose}")
            out.append(f"      created by {sp.created_by}; readable by a debugger: "
                       f"{sp.readable_by_tracer}")
    return "\n".join(out)


def render_special_pages(pages: tuple[SpecialPage, ...], st: Style = PLAIN) -> str:
    """The decoded contents of ARM's [vectors] (kuser helpers) and [sigpage]
    (sigreturn trampolines)."""
    out: list[str] = []
    for p in pages:
        if out:
            out.append("")
        out.append(st.head(f"{safe(p.mapping)} {p.start:#x}-{p.end:#x}:"))
        if p.error is not None:
            out.append(st.warn(f"  {safe(p.error)}"))
        if p.kind == "kuser" and p.version is not None:
            out.append(f"  __kuser_helper_version {p.version} (the word at "
                       f"{hx(p.version_address)})")
            for k in p.kuser:
                state = "" if k.present else st.dim(f"  (needs version {k.since_version})")
                out.append(f"  {k.address:#x} {st.name(k.name)}: {k.description}{state}")
                out.extend(f"      {line}" for line in k.disassembly)
        elif p.kind == "trampolines" and p.kernel is not None:
            out.append(f"  sigreturn code of the {p.kernel} ({p.source}) at offset "
                       f"{p.block_offset:#x}; lr at handler entry holds one of:")
            for t in p.trampolines:
                out.append(f"  {t.address:#x} {st.name(t.name)}: {t.syscall} ({t.syscall_nr})")
                out.extend(f"      {line}" for line in t.disassembly)
    return "\n".join(out)


# -- vdso / vsyscall ------------------------------------------------------------------------
def render_vdso(r: VdsoReport, st: Style = PLAIN) -> str:
    out = [st.head(f"[vdso] {r.start:#x}-{r.end:#x} {r.perms} ({r.abi}), ELF image "
                   f"{r.image_size} bytes, soname {safe(r.soname or '?')}")]
    ok = r.at_sysinfo_ehdr == r.start
    out.append(f"  AT_SYSINFO_EHDR {hx(r.at_sysinfo_ehdr)}: "
               + ("the [vdso] mapping's ELF header" if ok else st.warn("does NOT match [vdso]")))
    if r.at_sysinfo is not None:
        out.append(f"  AT_SYSINFO      {r.at_sysinfo:#x}: entry {r.entry:#x} "
                   f"<{safe(r.entry_symbol or '?')}>"
                   + ("" if r.at_sysinfo == r.entry else st.warn(" (differs from e_entry)")))
    if r.linux_version:
        out.append(f"  Linux version note: {r.linux_version}")
    if r.build_id:
        out.append(f"  build id: {r.build_id}")
    out.append(f"  version definitions: {', '.join(r.version_definitions) or '-'}")
    for n in r.neighbours:
        out.append(f"  {n.path} {n.start:#x}-{n.end:#x} {n.perms} "
                   "(vDSO data pages; unreadable by a debugger)")
    out.append(st.head(f"  {'address':>18} {'size':>6} {'type':6} {'bind':6} symbol"))
    for s in sorted(r.symbols, key=lambda s: (s.address, s.name)):
        ver = f"@{s.version}" if s.version else ""
        out.append(f"  {s.address:#18x} {s.size:6} {s.type:6} {s.bind:6} "
                   f"{st.name(safe(s.name))}{safe(ver)}")
    return "\n".join(out)


def render_fixed_page(r: FixedPageReport, st: Style = PLAIN) -> str:
    out = [st.head(f"{r.page} page ({r.abi}): mode {r.mode}")]
    out.append(f"  {r.mode_evidence}")
    if r.present:
        if r.readable:
            out.append("  the page is readable:")
        else:
            out.append(st.warn(f"  the page cannot be read: {r.read_error}"))
            out.append("  (calls to the entries still work: the kernel emulates them "
                       "on the instruction-fetch fault)")
    for e in r.entries:
        out.append(f"  {e.address:#x}  {e.name}")
        for line in e.disassembly:
            out.append(f"      {line}")
    return "\n".join(out)


# -- signals ---------------------------------------------------------------------------------
_HEX_FIELDS = {"si_addr", "si_value", "si_call_addr", "si_lower", "si_upper", "si_band"}


def siginfo_text(i: SigInfo, name: str | None = None) -> str:
    """strace's ``{si_signo=SIGUSR1, si_code=SI_TKILL, si_pid=1, si_uid=0}`` shape
    (``name``: the signal's name when not the model's, e.g. glibc numbering)."""
    parts = [f"si_signo={name or i.signal}", f"si_code={i.code_name}"]
    if i.si_errno:
        parts.append(f"si_errno={i.si_errno}")
    for k, v in i.fields.items():
        if k == "si_sys_private":
            continue
        if k == "si_status" and i.layout == "sigchld" and i.si_code != 1:
            parts.append(f"{k}={signal_name(v)}")
        elif k == "si_syscall":
            parts.append(f"{k}={v}")
        elif k in _HEX_FIELDS:
            parts.append(f"{k}={v:#x}")
        else:
            parts.append(f"{k}={v}")
    return "{" + ", ".join(parts) + "}"


def restorer_short(r: Restorer, st: Style = PLAIN) -> str:
    """The restorer in a few words: its symbol (unversioned) and where it is,
    e.g. ``__restore_rt (libc)``, ``__kernel_rt_sigreturn (vdso)``."""
    if r.symbol:
        return f"{st.text(r.symbol.split('@', 1)[0])} ({r.kind})"
    return f"{r.address:#x} ({r.kind})"


def altstack_text(a: AltstackUse, st: Style = PLAIN) -> str:
    """``altstack 0x..+0x10000: 0x4f8 used, 0xfb08 left below the frame``, and
    the warning when the stack is below the kernel's AT_MINSIGSTKSZ."""
    out = (f"altstack {a.ss_sp:#x}+{a.ss_size:#x}: {a.used} bytes used, "
           f"{a.headroom} left below the frame")
    if a.at_minsigstksz is not None:
        out += f" (AT_MINSIGSTKSZ {a.at_minsigstksz})"
    problem = a.problem
    if problem is not None:
        out += " " + st.warn(f"! {problem}")
    return out


def render_frame(f: SigFrame | A64Frame | A32Frame, st: Style = PLAIN,
                 picture: bool = True) -> str:
    if isinstance(f, A64Frame):
        return render_a64_frame(f, st)
    if isinstance(f, A32Frame):
        return render_a32_frame(f, st)
    w = 2 * abi_by_name(f.abi).word
    out = [st.head(f"{f.kind} at {f.address:#x} ({f.abi}, {f.size} bytes): "
                   f"signal {signal_name(f.sig)} ({f.sig})")]
    out.append(f"  pretcode  {st.addr(hx(f.pretcode))} -> {f.restorer.describe(st.text)}")
    if f.pinfo is not None:
        out.append(f"  pinfo     {hx(f.pinfo)}   puc {hx(f.puc)}")
    if f.siginfo is not None:
        label = "siginfo" if f.siginfo_valid else "siginfo (stale: no SA_SIGINFO)"
        out.append(f"  {label}  {siginfo_text(f.siginfo)}")
    if f.uc_flags is not None:
        out.append(f"  uc_flags  {f.uc_flags:#x} {' | '.join(f.uc_flags_names)}   uc_link "
                   f"{hx(f.uc_link)}")
    if f.uc_stack is not None:
        from sigdbg.decode.sigframe import ss_flags_text

        out.append(f"  uc_stack  ss_sp={hx(f.uc_stack['ss_sp'])} "
                   f"ss_flags={ss_flags_text(f.uc_stack['ss_flags'])} "
                   f"ss_size={f.uc_stack['ss_size']:#x}"
                   + (f"   (frame is ON the alternate signal stack, "
                      f"{f.address - f.uc_stack['ss_sp']} bytes left below it)"
                      if f.on_altstack else ""))
    names = " ".join(f.sigmask_names) or "(empty)"
    out.append(f"  sigmask   {f.sigmask:#x} [{names}]")
    out.append(st.head("  mcontext (the interrupted registers):"))
    items = list(f.mcontext.items())
    for i in range(0, len(items), 4):
        row = "    " + "  ".join(f"{k:>7}={v:#0{w + 2}x}" if k != "reserved1" else ""
                                 for k, v in items[i:i + 4])
        out.append(row.rstrip())
    if f.retcode is not None:
        out.append(f"  retcode   {f.retcode.hex()} "
                   + ("(kernel signature ok)" if f.retcode_ok else st.warn("(NOT the kernel's)")))
    fp = f.fpstate
    if fp is not None:  # the FP area the sigcontext points at, as its decoder describes it
        view = fp.fp_view()
        out.append(st.head(f"  fpstate at {fp.address:#x}: {view.format}") + view.words_text())
        out.extend(view.note_rows("    "))
        for g in view.groups:
            out.extend(g.nonzero_rows("    "))
            if not any(g.values):
                out.append(f"    {g.name}0..{len(g.values) - 1} all zero")
    for p in f.problems:
        out.append(st.warn(f"  ! {p}"))
    if picture:
        out.append(render_picture(f, st))
    return "\n".join(out)


def render_a64_frame(f: A64Frame, st: Style = PLAIN) -> str:
    """An AArch64 rt_sigframe: the same model the JSON comes from."""
    out = [st.head(f"{f.kind} at {f.address:#x} ({f.abi}, {f.size} bytes): "
                   f"signal {signal_name(f.sig)} ({f.sig})")]
    out.append(f"  x30 (restorer)  {st.addr(hx(f.pretcode))} -> {f.restorer.describe(st.text)}")
    if f.siginfo is not None:
        label = "siginfo" if f.siginfo_valid else "siginfo (stale: no SA_SIGINFO)"
        out.append(f"  {label}  {siginfo_text(f.siginfo)}")
    out.append(f"  uc_flags  {f.uc_flags:#x} {' | '.join(f.uc_flags_names)}   uc_link "
               f"{hx(f.uc_link)}")
    from sigdbg.decode.sigframe import ss_flags_text

    out.append(f"  uc_stack  ss_sp={hx(f.uc_stack['ss_sp'])} "
               f"ss_flags={ss_flags_text(f.uc_stack['ss_flags'])} "
               f"ss_size={f.uc_stack['ss_size']:#x}"
               + ("   (frame is ON the alternate signal stack)" if f.on_altstack else ""))
    names = " ".join(f.sigmask_names) or "(empty)"
    out.append(f"  sigmask   {f.sigmask:#x} [{names}]")
    out.append(st.head("  sigcontext (the interrupted registers):"))
    items = list(f.mcontext.items())
    for i in range(0, len(items), 4):
        out.append("    " + "  ".join(f"{k:>6}={v:#018x}" for k, v in items[i:i + 4]))
    out.append(f"    pstate [{' '.join(f.pstate_names)}]   fault_address={hx(f.fault_address)}")
    rec = f.frame_record
    out.append(f"  frame record at {hx(f.frame_record_address)} (x29 at entry): "
               f"fp={hx(rec.get('fp'))} lr={hx(rec.get('lr'))}")
    out.append(st.head("  __reserved records:"))
    for r in f.records:
        out.append("    " + _a64_record_text(r))
    for p in f.problems:
        out.append(st.warn(f"  ! {p}"))
    return "\n".join(out)


def render_a32_frame(f: A32Frame, st: Style = PLAIN) -> str:
    """An AArch32 compat_rt_sigframe / compat_sigframe: the model the JSON comes from."""
    out = [st.head(f"{f.kind} at {f.address:#x} ({f.abi}, {f.size} bytes): "
                   f"signal {signal_name(f.sig)} ({f.sig})")]
    mode = {None: "", True: " (Thumb handler)", False: " (ARM handler)"}[f.handler_thumb]
    out.append(f"  lr (restorer)  {st.addr(hx(f.pretcode))} -> "
               f"{f.restorer.describe(st.text)}{mode}")
    if f.siginfo is not None:
        out.append(f"  siginfo   {siginfo_text(f.siginfo)}")
    else:
        out.append("  siginfo   (none: non-rt frame, handler without SA_SIGINFO)")
    out.append(f"  uc_flags  {f.uc_flags:#x} {' | '.join(f.uc_flags_names)}   uc_link "
               f"{hx(f.uc_link)}")
    from sigdbg.decode.sigframe import ss_flags_text

    out.append(f"  uc_stack  ss_sp={hx(f.uc_stack['ss_sp'])} "
               f"ss_flags={ss_flags_text(f.uc_stack['ss_flags'])} "
               f"ss_size={f.uc_stack['ss_size']:#x}"
               + ("   (frame is ON the alternate signal stack)" if f.on_altstack else ""))
    names = " ".join(f.sigmask_names) or "(empty)"
    out.append(f"  sigmask   {f.sigmask:#x} [{names}]")
    out.append(st.head("  sigcontext (the interrupted registers):"))
    items = list(f.mcontext.items())
    for i in range(0, len(items), 4):
        out.append("    " + "  ".join(f"{k:>13}={v:#010x}" for k, v in items[i:i + 4]))
    out.append(f"    cpsr [{' '.join(f.cpsr_names)}]   interrupted "
               f"{'Thumb' if f.thumb else 'ARM'} code at {hx(f.pc)}")
    out.append(st.head("  uc_regspace records:"))
    for r in f.records:
        out.append("    " + _a32_record_text(r))
    rc = " ".join(f"{w:#010x}" for w in f.retcode)
    out.append(f"  retcode   {rc} " + (f"({f.retcode_code})" if f.retcode_code
                                       else "(not written: stale stack)"))
    for p in f.problems:
        out.append(st.warn(f"  ! {p}"))
    return "\n".join(out)


def _a32_record_text(r: A32Record) -> str:
    where = f"{r.address:#x} (frame{r.offset:+d})"
    if r.name == "end":
        return f"end       {where}"
    detail = " ".join(f"{k}={v:#x}" for k, v in r.fields.items())
    if not r.fields and r.payload_size:
        detail = f"(+{r.payload_size} payload bytes)"
    lines = [f"{r.name:<9} {where} magic={r.magic:#010x} size={r.size} {detail}".rstrip()]
    return "\n    ".join(lines + _record_fp_rows(r.fp_view()))


def _a64_record_text(r: A64Record) -> str:
    where = f"{r.address:#x} (frame{r.offset:+d}{', extra space' if r.in_extra else ''})"
    if r.name == "end":
        return f"end       {where}"
    head = f"{r.name:<9} {where} magic={r.magic:#010x} size={r.size}"
    detail = " ".join(f"{k}={v:#x}" for k, v in r.fields.items() if not k.startswith("__"))
    if r.payload_size:
        detail += f" (+{r.payload_size} payload bytes)"
    lines = [f"{head} {detail}".rstrip()]
    return "\n    ".join(lines + _record_fp_rows(r.fp_view()))


def _record_fp_rows(view: FpView) -> list[str]:
    """The FP/vector registers a frame record holds, under its line: its
    decoder's notes, then the non-zero registers of each group."""
    rows = view.note_rows("      ")
    for g in view.groups:
        rows += g.nonzero_rows("      ")
    return rows


def render_picture(f: SigFrame, st: Style = PLAIN) -> str:
    """The frame as a stack diagram: higher addresses on top, offsets from the frame."""
    out = [st.head("  stack picture (addresses descending):")]
    pointers: dict[int, list[str]] = {}
    abi = abi_by_name(f.abi)
    if abi.handler_arg_pointers:
        for reg, member, offset in abi.handler_arg_pointers:
            pointers.setdefault(f.address + offset, []).append(f"{reg} ({member})")
    elif f.pinfo is not None:
        pointers.setdefault(f.pinfo, []).append("pinfo")
        pointers.setdefault(f.puc or 0, []).append("puc")
    pointers.setdefault(f.address, []).append(f"{abi.sp} at handler entry")
    if f.fpstate is not None:
        pointers.setdefault(f.fpstate.address, []).append("uc_mcontext.fpstate")
    for r in sorted(f.regions, key=lambda r: -r.start):
        off = r.start - f.address
        arrow = ""
        if r.start in pointers:
            arrow = "  <- " + ", ".join(pointers[r.start])
        out.append(f"    {r.start:#018x} {off:+6d} |{r.label:^22}| {r.size:6d}  "
                   f"{st.dim(safe(r.detail))}{arrow}")
    return "\n".join(out)


__all__ = ["safe", "Style", "render_auxv", "render_maps", "render_vdso", "render_fixed_page",
           "render_frame", "render_picture", "siginfo_text", "hx", "restorer_short",
           "altstack_text"]
