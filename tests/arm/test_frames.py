"""Signal frames captured on the real arm64 kernel, decoded on the host.

The targets (targets/arm/sig_frame.*) dump their own frame bytes from inside
the handler, with the handler's view of every value; this decodes the bytes
with sigdbg's tables (sigdbg/abi/aarch64.py, arm.py) and record walkers
(sigdbg/abi/aarch64/records.py, arm_regspace.py) and compares every value
with the handler's report, and with truths the program set up itself (the
register patterns it loaded before the svc, the label of the interrupted
instruction, the fault address it used, the altstack it registered).
"""

from __future__ import annotations

import io
import struct

import pytest
from elftools.elf.elffile import ELFFile

from sigdbg.abi import aarch64, arm
from sigdbg.abi.aarch64.records import Record, walk_reserved
from sigdbg.abi.arm.regspace import walk_regspace
from sigdbg.abi.layout import Decoded, Layout
from sigdbg.errors import MemoryReadError
from tests.arm.conftest import Report, parse
from tests.arm.guest import Batch

pytestmark = pytest.mark.timeout(900)

SIGSEGV, SIGUSR1, SIGUSR2 = 11, 10, 12
FAULT_ADDR = 0xDEAD000
SCENARIOS = ("usr1", "segv", "nosi", "alt")
#: AArch64 also has a nested signal and live SVE registers at VL 256 (extra_context)
A64_SCENARIOS = (*SCENARIOS, "nest", "nest_in", "sve")
#: AArch32 also installs handlers without SA_RESTORER: lr into [sigpage]
A32_SCENARIOS = (*SCENARIOS, "sigpage", "sigpage_nosi")
SIG = {"usr1": SIGUSR1, "segv": SIGSEGV, "nosi": SIGUSR2, "alt": SIGUSR1, "sve": SIGSEGV,
       "sigpage": SIGUSR1, "sigpage_nosi": SIGUSR2, "nest": SIGUSR1, "nest_in": SIGUSR2}


class DumpMemory:
    """Target memory as far as the program dumped it (sigdbg's Memory protocol)."""

    def __init__(self, *dumps: tuple[int, bytes]) -> None:
        self.dumps = dumps

    def read(self, address: int, size: int) -> bytes:
        for start, data in self.dumps:
            if start <= address and address + size <= start + len(data):
                return data[address - start : address - start + size]
        raise MemoryReadError(address, size, "not in the dump")

    def read_upto(self, address: int, size: int) -> bytes:
        try:
            return self.read(address, size)
        except MemoryReadError:
            return b""


def _sub(d: Decoded, *path: str) -> Decoded:
    for p in path:
        v = d[p]
        assert isinstance(v, dict)
        d = v
    return d


def check_siginfo(info: bytes, header: Layout, members: dict[str, Layout],
                  head: dict[str, int], sig: int) -> None:
    h = header.decode(info)
    assert (h["si_signo"], h["si_errno"], h["si_code"] & 0xFFFFFFFF) == (  # type: ignore[operator]
        head["si_signo"], head["si_errno"], head["si_code"])
    assert h["si_signo"] == sig
    if sig == SIGSEGV:
        m = members["sigfault"].decode(info)
        assert m["si_addr"] == head["si_addr"] == FAULT_ADDR
    else:
        m = members["kill"].decode(info)
        assert (m["si_pid"], m["si_uid"]) == (head["si_pid"], head["si_uid"])


# -- AArch64 -------------------------------------------------------------------

@pytest.fixture(scope="module")
def a64(guest: Batch) -> Report:
    rep = parse(guest.results["frame_a64"])
    assert rep.done
    return rep


@pytest.mark.parametrize("tag", A64_SCENARIOS)
def test_a64_frame(a64: Report, tag: str) -> None:
    head, mc = a64[tag], a64[tag + ".mc"]
    sp, fp = head["entry_sp"], head["entry_fp"]
    start, data = a64.dump(tag + ".frame")
    assert start == sp and sp % 16 == 0
    # handler entry: x0 = sig, x1 = &info = sp, x2 = &uc (SA_SIGINFO only)
    assert head["entry_x0"] == SIG[tag]
    if tag != "nosi":
        assert (head["entry_x1"], head["entry_x2"]) == (sp, sp + 128)
    frame = aarch64.RT_SIGFRAME.decode(data)
    uc = _sub(frame, "uc")
    sc = _sub(uc, "uc_mcontext")
    assert sc["fault_address"] == mc["fault_address"]
    assert sc["regs"] == tuple(mc[f"x{i}"] for i in range(31))
    assert (sc["sp"], sc["pc"], sc["pstate"]) == (mc["sp"], mc["pc"], mc["pstate"])
    st = _sub(uc, "uc_stack")
    assert (uc["uc_flags"], uc["uc_link"], uc["uc_sigmask"]) == (
        mc["uc_flags"], mc["uc_link"], mc["mask"])
    assert (st["ss_sp"], st["ss_flags"], st["ss_size"]) == (
        mc["ss_sp"], mc["ss_flags"], mc["ss_size"])
    # the frame record x29 points to: {interrupted x29, x30}
    rec = aarch64.FRAME_RECORD.decode(data, fp - sp)
    assert (rec["fp"], rec["lr"]) == (head["rec_fp"], head["rec_lr"])
    assert (rec["fp"], rec["lr"]) == (mc["x29"], mc["x30"])
    # what the program itself knows
    regs = sc["regs"]
    assert isinstance(regs, tuple)
    if tag in ("segv", "sve"):
        assert sc["pc"] == head["fault_insn" if tag == "segv" else "sve_fault_insn"]
        assert sc["fault_address"] == FAULT_ADDR
    else:
        assert sc["pc"] == head["after_svc"]
        assert regs[8] == 129  # __NR_kill
        assert regs[19:29] == tuple(int(f"{n:02d}" * 8, 16) for n in range(19, 29))
    if tag == "alt":
        alt = a64["alt.stack"]
        assert alt["ss_sp"] <= sp and fp + 16 <= alt["ss_sp"] + alt["ss_size"]
    if tag != "nosi":  # without SA_SIGINFO the siginfo area is not written
        check_siginfo(bytes(frame["info"]), aarch64.SIGINFO_HEADER,  # type: ignore[arg-type]
                      aarch64.SIGINFO_MEMBERS, head, SIG[tag])


@pytest.mark.parametrize("tag", A64_SCENARIOS)
def test_a64_records(a64: Report, tag: str) -> None:
    head, rep = a64[tag], a64[tag + ".rec"]
    sp = head["entry_sp"]
    dumps = [a64.dump(tag + ".frame")]
    if tag + ".extra" in a64.dumps:
        dumps.append(a64.dump(tag + ".extra"))
    walk = walk_reserved(DumpMemory(*dumps), sp + aarch64.RESERVED_OFFSET)
    assert not walk.problems
    got = [(r.address - sp, r.magic, r.size) for r in walk.records]
    want = [(rep[f"off{n}"], rep[f"magic{n}"], rep[f"size{n}"]) for n in range(rep["nrec"])]
    assert got == want
    assert walk.records[0].address == sp + 592 and walk.records[0].name == "fpsimd"
    assert walk.records[-1].name == "end"
    fpsimd = walk.find("fpsimd")
    assert fpsimd is not None and fpsimd.fields is not None
    assert (fpsimd.fields["fpsr"], fpsimd.fields["fpcr"]) == (rep["fpsr"], rep["fpcr"])
    v = aarch64.vregs(fpsimd.fields["vregs"])  # type: ignore[arg-type]
    assert v[16] == rep["v16_lo"] | rep["v16_hi"] << 64
    assert v[31] == rep["v31_lo"] | rep["v31_hi"] << 64
    if tag not in ("segv", "sve"):  # the patterns trigger_kill loaded before the svc
        assert (fpsimd.fields["fpsr"], fpsimd.fields["fpcr"]) == (0x10, 0xC00000)
    # segv: left over from trigger_kill; sve: V16/V31 are the low 128 bits of Z16/Z31
    assert v[16] == int("16" * 16, 16) and v[31] == int("31" * 16, 16)
    esr = walk.find("esr")
    if tag in ("segv", "sve"):
        assert esr is not None and esr.fields is not None
        assert esr.fields["esr"] == rep["esr"]
        assert rep["esr"] >> 26 == 0x24  # EC: data abort from a lower exception level
    if esr is None:
        assert "esr" not in rep
    sve = walk.find("sve")
    if sve is not None:
        assert sve.fields is not None
        assert (sve.fields["vl"], sve.fields["flags"]) == (rep["sve_vl"], rep["sve_flags"])
    extra = walk.find("extra")
    if extra is not None:
        assert extra.fields is not None
        assert (extra.fields["datap"], extra.fields["size"]) == (
            rep["extra_datap"], rep["extra_size"])
        # the kernel's rule: a terminator right after it, the extra space at
        # the next 16 bytes, inside the frame (below the frame record)
        i = walk.records.index(extra)
        assert walk.records[i + 1].name == "end" and not walk.records[i + 1].in_extra
        datap, size = extra.fields["datap"], extra.fields["size"]
        assert isinstance(datap, int) and isinstance(size, int)
        assert datap == walk.records[i + 1].address + 16
        assert datap + size <= head["entry_fp"]
        assert all(r.in_extra for r in walk.records[i + 2 :])
        assert walk.records[-1].name == "end"
    else:  # then the frame record follows the rt_sigframe directly
        assert head["entry_fp"] - sp == aarch64.RT_SIGFRAME.size
    if tag == "sve":
        check_live_sve(walk.records, rep)


def check_live_sve(records: list[Record], rep: dict[str, int]) -> None:
    """Z16/Z31/P3 as trigger_sve_fault set them, at VL 256, in the extra space."""
    sve = next(r for r in records if r.name == "sve")
    assert sve.fields is not None and sve.in_extra
    vl = sve.fields["vl"]
    assert isinstance(vl, int) and vl == 256
    vq = vl // aarch64.SVE_VQ_BYTES
    assert sve.size == -(-aarch64.sve_sig_context_size(vq) // 16) * 16
    fixed = aarch64.SVE_CONTEXT.size
    z16 = sve.payload[aarch64.sve_zreg_offset(vq, 16) - fixed :][: 16 * vq]
    z31 = sve.payload[aarch64.sve_zreg_offset(vq, 31) - fixed :][: 16 * vq]
    p3 = sve.payload[aarch64.sve_preg_offset(vq, 3) - fixed :][: 2 * vq]
    assert z16 == b"\x16" * 16 * vq and z31 == b"\x31" * 16 * vq
    assert p3 == b"\xff" * 2 * vq
    assert int.from_bytes(z16[:8], "little") == rep["sve_z16"]
    assert int.from_bytes(p3[:8], "little") == rep["sve_p3"]


def test_a64_nested(a64: Report) -> None:
    """SIGUSR2 sent from inside the SIGUSR1 handler: its frame is built below
    the outer handler's stack (under the outer frame), SIGUSR1 is blocked in
    its saved mask, and its frame record chains into the outer handler."""
    outer, inner = a64["nest"], a64["nest_in"]
    assert inner["entry_fp"] + 16 <= a64["nest_in.mc"]["sp"] <= outer["entry_sp"]
    assert a64["nest.mc"]["mask"] == 0
    assert a64["nest_in.mc"]["mask"] == 1 << (SIGUSR1 - 1)
    # the outer handler's frame pointer chain is below the outer frame
    assert inner["rec_fp"] < outer["entry_sp"]


def test_a64_esr_record_is_sticky(a64: Report) -> None:
    """A 6.1 fact the decoder must not "fix": after one fault, every later frame
    of the thread still carries the esr record and fault_address (the kernel
    adds the record whenever thread.fault_code is non-zero, and nothing clears
    it): nosi and alt are kill()s, yet their frames hold segv's values."""
    seg = a64["segv.rec"]
    for tag in ("nosi", "alt"):
        assert a64[tag + ".rec"].get("esr") == seg["esr"]
        assert a64[tag + ".mc"]["fault_address"] == FAULT_ADDR
    assert "esr" not in a64["usr1.rec"]


def test_a64_restorer_is_vdso_sigreturn(a64: Report) -> None:
    """glibc does not set SA_RESTORER on aarch64: x30 at handler entry is the
    vDSO's __kernel_rt_sigreturn, found by symbol in the dumped vDSO."""
    base, image = a64.dump("vdso")
    assert base == a64["auxv"]["at33"]
    elf = ELFFile(io.BytesIO(image))
    symtab = elf.get_section_by_name(".dynsym")
    assert symtab is not None
    syms = {s.name: s["st_value"] for s in symtab.iter_symbols()}
    target = base + syms["__kernel_rt_sigreturn"]
    for tag in A64_SCENARIOS:
        assert a64[tag]["entry_lr"] == target
        assert a64.dump(tag + ".lrcode")[1] == aarch64.RT_SIGRETURN_CODE


def _auxv_pairs(data: bytes, word: int) -> dict[int, int]:
    fmt = "<QQ" if word == 8 else "<II"
    out: dict[int, int] = {}
    for t, v in struct.iter_unpack(fmt, data[: len(data) // (2 * word) * 2 * word]):
        if t == 0:
            break
        out[t] = v
    return out


def test_a64_auxv(a64: Report) -> None:
    """/proc/self/auxv (64-bit pairs) agrees with getauxval, and AT_MINSIGSTKSZ
    covers the biggest frame this run saw."""
    aux = _auxv_pairs(a64.dump("auxv.proc")[1], 8)
    for key, value in a64["auxv"].items():
        assert aux.get(int(key[2:]), 0) == value, key
    biggest = max(a64[t]["entry_fp"] + 16 - a64[t]["entry_sp"] for t in A64_SCENARIOS)
    assert biggest > 9000  # the sve frame, with its extra space
    assert aux[51] >= biggest


# -- AArch32 (compat task) -------------------------------------------------------

@pytest.fixture(scope="module", params=["arm", "thumb"])
def a32(request: pytest.FixtureRequest, guest: Batch) -> tuple[str, Report]:
    rep = parse(guest.results[f"frame_{request.param}"])
    assert rep.done
    return request.param, rep


#: glibc armhf's restorers (SA_RESTORER, Thumb-2 even in -marm builds):
#: mov.w r7, #173 (rt_sigreturn) / #119 (sigreturn); svc 0
RT_RESTORER = bytes.fromhex("4ff0ad0700df")
RESTORER = bytes.fromhex("4ff0770700df")
#: the compat [sigpage] (arch/arm64/kernel/sigreturn32.S), at offset 0 of the
#: page: (offset of the entry, code) per (handler mode, rt)
SIGPAGE = {
    ("arm", False): (0x00, bytes.fromhex("7770a0e3770000ef")),  # mov r7,#119; svc #119
    ("thumb", False): (0x08, bytes.fromhex("772777df")),  # movs r7,#119; svc #119
    ("arm", True): (0x0C, bytes.fromhex("ad70a0e3ad0000ef")),  # mov r7,#173; svc #173
    ("thumb", True): (0x14, bytes.fromhex("ad27addf")),  # movs r7,#173; svc #173
}


def special_mappings(rep: Report) -> dict[str, tuple[int, int, str]]:
    out = {}
    for line in rep.dump("maps")[1].decode().splitlines():
        parts = line.split()
        if parts[-1].startswith("["):
            lo, hi = (int(x, 16) for x in parts[0].split("-"))
            out[parts[-1]] = (lo, hi, parts[1])
    return out


@pytest.mark.parametrize("tag", A32_SCENARIOS)
def test_a32_frame(a32: tuple[str, Report], tag: str) -> None:
    mode, rep = a32
    head, mc, recs = rep[tag], rep[tag + ".mc"], rep[tag + ".rec"]
    sp = head["entry_sp"]
    rt = not tag.endswith("nosi")
    assert head["rt"] == rt
    layout = arm.COMPAT_RT_SIGFRAME if rt else arm.COMPAT_SIGFRAME
    start, data = rep.dump(tag + ".frame")
    assert start == sp and len(data) == layout.size and sp % 8 == 0
    frame = layout.decode(data)
    uc_path = ("sig", "uc") if rt else ("uc",)
    uc = _sub(frame, *uc_path)
    sc = _sub(uc, "uc_mcontext")
    for name in arm.SIGCONTEXT.by_name:
        assert sc[name] == mc[name], name
    st = _sub(uc, "uc_stack")
    assert (uc["uc_flags"], uc["uc_link"], uc["uc_sigmask"]) == (
        mc["uc_flags"], mc["uc_link"], mc["mask"])
    assert (st["ss_sp"], st["ss_flags"], st["ss_size"]) == (
        mc["ss_sp"], mc["ss_flags"], mc["ss_size"])
    # handler entry: r0 = sig, r1 = &info, r2 = &uc (rt); Thumb handler has bit 0 set
    assert head["entry_r0"] == SIG[tag]
    if rt:
        assert (head["entry_r1"], head["entry_r2"]) == (sp, sp + 128)
        check_siginfo(bytes(frame["info"]), arm.SIGINFO_HEADER,  # type: ignore[arg-type]
                      arm.SIGINFO_MEMBERS, head, SIG[tag])
    else:
        assert uc["uc_flags"] == arm.SIGFRAME_UC_FLAGS
    assert head["handler"] & 1 == (mode == "thumb")
    # what the program itself knows
    assert bool(sc["arm_cpsr"] & arm.CPSR_T) == (mode == "thumb")  # type: ignore[operator]
    if tag == "segv":
        assert sc["arm_pc"] == head["fault_insn"]
        assert sc["fault_address"] == FAULT_ADDR
    else:
        assert sc["arm_pc"] == head["after_svc"]
        assert [sc[f"arm_r{i}"] for i in (4, 5, 6, 7, 8, 9, 10)] == [
            0x04040404, 0x05050505, 0x06060606, 37, 0x08080808, 0x09090909, 0x10101010]
    if tag == "alt":
        alt = rep["alt.stack"]
        assert alt["ss_sp"] <= sp and sp + layout.size <= alt["ss_sp"] + alt["ss_size"]
    # uc_regspace records, walked by size
    walk = walk_regspace(bytes(uc["uc_regspace"]))  # type: ignore[arg-type]
    assert not walk.problems
    regspace_at = layout.offset_of(".".join(uc_path) + ".uc_regspace")
    assert [(regspace_at + r.offset, r.magic) for r in walk.records] == [
        (recs[f"off{n}"], recs[f"magic{n}"]) for n in range(recs["nrec"])]
    assert [r.size for r in walk.records[:-1]] == [
        recs[f"size{n}"] for n in range(recs["nrec"] - 1)]
    vfp = walk.find("vfp")
    assert vfp is not None and vfp.fields is not None and vfp.size == 288
    ufp, exc = _sub(vfp.fields, "ufp"), _sub(vfp.fields, "ufp_exc")
    fpregs = ufp["fpregs"]
    assert isinstance(fpregs, tuple)
    assert (fpregs[16], fpregs[31], ufp["fpscr"], exc["fpexc"]) == (
        recs["d16"], recs["d31"], recs["fpscr"], recs["fpexc"])
    if tag != "segv":
        assert fpregs[16] == int("16" * 8, 16) and fpregs[31] == int("31" * 8, 16)
        assert ufp["fpscr"] == 0x00C00010
    lr, code = head["entry_lr"], rep.dump(tag + ".lrcode")[1]
    if tag.startswith("sigpage"):
        # no SA_RESTORER: the kernel's [sigpage] entry matching the handler's mode
        base, end, perms = special_mappings(rep)["[sigpage]"]
        offset, insns = SIGPAGE[(mode, rt)]
        assert lr == base + offset + (mode == "thumb") and end - base == 4096
        assert code.startswith(insns) and perms == "r-xp"
    else:
        # glibc's own Thumb-2 restorer
        assert lr & 1
        assert code[:6] == (RT_RESTORER if rt else RESTORER)


def test_a32_kuser_page(a32: tuple[str, Report]) -> None:
    """[vectors] at 0xffff0000 with __kuser_helper_version 5 (the compat page)."""
    _, rep = a32
    assert special_mappings(rep)["[vectors]"] == (0xFFFF0000, 0xFFFF1000, "r-xp")
    assert rep["kuser"]["version"] == 5


def test_a32_auxv(a32: tuple[str, Report]) -> None:
    """/proc/self/auxv of a 32-bit task has 32-bit pairs, agrees with
    getauxval, and has no AT_MINSIGSTKSZ."""
    _, rep = a32
    aux = _auxv_pairs(rep.dump("auxv.proc")[1], 4)
    for key, value in rep["auxv"].items():
        assert aux.get(int(key[2:]), 0) == value, key
    assert 51 not in aux
    assert aux[6] == 4096 and aux[4] == 32  # AT_PAGESZ, AT_PHENT (Elf32_Phdr)
