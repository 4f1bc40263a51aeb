"""The trace hot path's compiled decoders, memos and JSON builders agree with plain code.

``Layout.decode`` is generated code (one unpack, one dict display), FP states
and siginfos are decoded once per distinct byte image, and ``to_json`` is
compiled per model class.  Each is checked here against a deliberately
naive reference written in this file, over every table and over forged
frames, so a speed trick can never change a decoded value.
"""

from __future__ import annotations

import dataclasses
import random
import struct
from enum import Enum
from typing import Any

import pytest

from sigdbg.abi import I386, X86_64
from sigdbg.abi.layout import Layout
from sigdbg.abi.x86 import fp as x86_fp
from sigdbg.abi.x86 import i386 as T32
from sigdbg.abi.x86 import x86_64 as T64
from sigdbg.abi.x86 import xsave
from sigdbg.decode.model import Model, SharedModel
from sigdbg.decode.sigframe import decode_sigframe
from sigdbg.decode.siginfo import decode_siginfo
from tests.unit.test_forged_frames import (
    FakeMemory,
    decode64,
    forge32,
    forge64,
    forge_fp_area,
)

_CODE = {("u", 1): "B", ("u", 2): "H", ("u", 4): "I", ("u", 8): "Q",
         ("i", 1): "b", ("i", 2): "h", ("i", 4): "i", ("i", 8): "q",
         ("ptr", 4): "I", ("ptr", 8): "Q"}


def naive_decode(layout: Layout, data: bytes, base: int = 0) -> dict[str, Any]:
    """One struct.unpack_from per member, straight from the table."""
    out: dict[str, Any] = {}
    for f in layout.fields:
        at = base + f.offset
        if f.kind == "struct":
            assert f.sub is not None
            out[f.name] = naive_decode(f.sub, data, at)
        elif f.kind == "bytes":
            out[f.name] = data[at : at + f.size]
        elif f.kind == "array":
            each = f.size // f.count
            out[f.name] = struct.unpack_from(f"<{f.count}{_CODE[(f.elem, each)]}", data, at)
        else:
            out[f.name] = struct.unpack_from("<" + _CODE[(f.kind, f.size)], data, at)[0]
    return out


def all_layouts() -> list[Layout]:
    found: dict[int, Layout] = {}
    for mod in (T64, T32, x86_fp):
        for value in vars(mod).values():
            values = value.values() if isinstance(value, dict) else [value]
            for v in values:
                if isinstance(v, Layout):
                    found[id(v)] = v
    return list(found.values())


LAYOUTS = all_layouts()


def test_there_are_tables_to_check() -> None:
    names = {lay.name for lay in LAYOUTS}
    assert {"rt_sigframe", "user_regs_struct", "_fpstate_64"} <= names, names
    assert len(LAYOUTS) >= 30


@pytest.mark.parametrize("layout", LAYOUTS, ids=lambda lay: lay.name)
def test_compiled_decode_equals_naive_decode(layout: Layout) -> None:
    rng = random.Random(layout.name)
    for offset in (0, 3):
        data = bytes(offset) + rng.randbytes(layout.size) + b"\xaa" * 8
        assert layout.decode(data, offset) == naive_decode(layout, data, offset)
        scalars = {k: v for k, v in naive_decode(layout, data, offset).items()
                   if isinstance(v, int)}
        assert layout.int_members("")(data, offset) == (scalars,)


def fp_memory(area: bytes, base: int) -> FakeMemory:
    return FakeMemory({base: area})


@pytest.fixture
def fp_decodes(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Every real FP-area decode from here on (the memos start empty): a
    memo is tested by what it saves, never by object identity."""
    calls: list[int] = []
    real = xsave._decode

    def counting(mem: Any, abi: Any, fpstate: int) -> xsave.FpState:
        calls.append(fpstate)
        return real(mem, abi, fpstate)

    monkeypatch.setattr(xsave, "_decode", counting)
    monkeypatch.setattr(xsave, "_LAST_AREA", {})
    xsave._decode_blob.cache_clear()
    return calls


@pytest.mark.parametrize("abi", [X86_64, I386], ids=lambda a: a.name)
def test_fpstate_one_read_equals_piecewise_reads(abi: Any) -> None:
    base = 0x7000_0040 if abi is X86_64 else 0x7000_0010  # FXSAVE image 64-aligned
    nxmm = 16 if abi is X86_64 else 8
    if abi is X86_64:
        area = forge_fp_area(nxmm)
    else:
        area = T32.FPSTATE_32_HEADER.encode({"magic": T32.X86_FXSR_MAGIC}) + \
            forge_fp_area(nxmm, extra=112)
    mem = fp_memory(area, base)
    whole = xsave.decode_fpstate(mem, abi, base)  # the memoised one-read path
    piecewise = xsave._decode(mem, abi, base)  # every read from memory
    assert whole == piecewise
    assert whole.problems == (), whole.problems
    assert whole.format == "xsave" and len(whole.xmm) == nxmm


def test_fpstate_memo_is_keyed_by_every_byte_and_the_address(fp_decodes: list[int]) -> None:
    base = 0x7000_0040
    area = bytearray(forge_fp_area(16))
    first = xsave.decode_fpstate(fp_memory(bytes(area), base), X86_64, base)
    again = xsave.decode_fpstate(fp_memory(bytes(area), base), X86_64, base)
    assert again == first and fp_decodes == [base]  # equal bytes: decoded once
    area[160] ^= 0xFF  # xmm0's low byte
    changed = xsave.decode_fpstate(fp_memory(bytes(area), base), X86_64, base)
    assert changed.xmm[0] == first.xmm[0] ^ 0xFF and changed.xmm[1:] == first.xmm[1:]
    area[160] ^= 0xFF
    area[-1] ^= 0x01  # MAGIC2, the last byte the decoder looks at
    assert xsave.decode_fpstate(fp_memory(bytes(area), base), X86_64, base).magic2 != \
        first.magic2
    moved = xsave.decode_fpstate(fp_memory(bytes(forge_fp_area(16)), base + 64),
                                 X86_64, base + 64)
    assert moved.address == base + 64 and moved.xmm == first.xmm
    assert fp_decodes == [base, base, base, base + 64]  # each other image decoded


def test_siginfo_memo_returns_equal_values_for_equal_bytes(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from sigdbg.decode import siginfo as siginfo_mod

    decoded: list[bytes] = []
    header = X86_64.siginfo_header

    class CountingLayout:  # counts the real decodes behind the memo
        def decode(self, data: bytes, offset: int = 0) -> Any:
            decoded.append(bytes(data))
            return header.decode(data, offset)

    abi = dataclasses.replace(X86_64, siginfo_header=CountingLayout())  # type: ignore[arg-type]
    siginfo_mod._decode_siginfo.cache_clear()
    raw = bytearray(128)
    struct.pack_into("<iii", raw, 0, 10, 0, 0)  # SIGUSR1, SI_USER: the _kill member
    struct.pack_into("<iI", raw, 16, 4242, 1000)
    a = decode_siginfo(bytes(raw), abi)
    b = decode_siginfo(bytes(16) + bytes(raw), abi, 16)
    assert a == b and a.fields == {"si_pid": 4242, "si_uid": 1000}
    assert decoded == [bytes(raw)]  # equal bytes, wherever they sit: decoded once
    struct.pack_into("<i", raw, 16, 4243)
    assert decode_siginfo(bytes(raw), abi).fields["si_pid"] == 4243
    assert len(decoded) == 2


def reference_json(value: Any) -> Any:
    """Plain recursive JSON conversion of a model (the semantics to_json must keep)."""
    if isinstance(value, Model):
        cls = type(value)
        generic = cls._json is Model._json or (
            cls._json is SharedModel._json and cls._build_json is SharedModel._build_json)
        if not generic:  # a class that renders some fields itself: take what it returns
            return reference_json(value.to_json())
        return {f.name: reference_json(getattr(value, f.name))
                for f in dataclasses.fields(value)  # type: ignore[arg-type]
                if f.metadata.get("json", True)}
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).hex()
    if isinstance(value, dict):
        return {str(k): reference_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [reference_json(v) for v in value]
    return value


def frames() -> list[Any]:
    out = [decode64(forge64())]
    for kind in ("rt_sigframe_ia32", "sigframe_ia32"):
        frame, regions = forge32(kind)
        out.append(decode_sigframe(FakeMemory(regions), I386, frame, signo=10))
    return out


@pytest.mark.parametrize("frame", frames(), ids=lambda f: f.kind)
def test_compiled_to_json_equals_reference(frame: Any) -> None:
    got = frame.to_json()
    fields = {f.name: reference_json(getattr(frame, f.name))
              for f in dataclasses.fields(frame) if f.metadata.get("json", True)}
    fields["sigmask_names"] = list(frame.sigmask_names)
    assert got == fields
    assert frame.restorer.to_json() == reference_json(frame.restorer)  # generic, compiled
    if frame.siginfo is not None:
        info = frame.siginfo
        assert info.to_json() == {"si_signo": info.si_signo, "signal": info.signal,
                                  "si_errno": info.si_errno, "si_code": info.si_code,
                                  "si_code_name": info.code_name, "layout": info.layout,
                                  **info.fields}
    assert frame.json_view() == got  # the serializer's read-only view: same data
    got["mcontext"]["rip"] = -1  # callers own what to_json returns, shared parts too
    assert frame.to_json()["mcontext"] != got["mcontext"]
    assert frame.fpstate is not None
    got["fpstate"]["st"][0] = "scribbled"
    assert frame.to_json()["fpstate"]["st"][0] != "scribbled"
    if frame.siginfo is not None:
        got["siginfo"]["si_signo"] = -1
        assert frame.to_json()["siginfo"]["si_signo"] != -1


def _at(tree: dict[str, Any], path: str) -> dict[str, Any]:
    for part in path.split(".") if path else ():
        tree = tree[part]
    return tree


@pytest.mark.parametrize(("layout", "paths"), [
    (T64.RT_SIGFRAME, ("", "uc", "uc.uc_stack", "uc.uc_mcontext")),
    (T32.RT_SIGFRAME, ("", "uc", "uc.uc_stack", "uc.uc_mcontext")),
    (T32.SIGFRAME, ("", "sc")),
], ids=lambda x: getattr(x, "name", None) or "+".join(x))
def test_int_members_equal_naive_decode(layout: Layout, paths: tuple[str, ...]) -> None:
    data = random.Random(layout.name).randbytes(layout.size)
    tree = naive_decode(layout, data)
    want = tuple({k: v for k, v in _at(tree, p).items() if isinstance(v, int)} for p in paths)
    assert layout.int_members(*paths)(data, 0) == want
    for bad in (paths[-1] + ".nonexistent", "pretcode"):  # no such member; not a struct
        with pytest.raises(ValueError, match="is not a struct member"):
            layout.int_members(bad)


def test_redecode_with_previous_reuses_only_an_unchanged_frame(
        fp_decodes: list[int]) -> None:
    from sigdbg.decode.sigframe import diff_frames
    from tests.unit.test_forged_frames import REGS64, forge_fp_area

    entry = decode64(forge64())
    assert len(fp_decodes) == 1
    again = decode64(forge64(), previous=entry)
    assert again == entry and diff_frames(entry, again).empty
    assert len(fp_decodes) == 1  # nothing decoded again

    regs = dict(REGS64, rip=REGS64["rip"] + 2)  # the handler moved the resume pc
    moved = decode64(forge64(regs=regs), previous=entry)
    assert moved != entry and moved.pc == entry.pc + 2
    assert ("mcontext.rip", entry.pc, entry.pc + 2) in diff_frames(entry, moved).changes

    area = bytearray(forge_fp_area(16))
    area[160] ^= 0x01  # xmm0 changed in the FP area only
    fp_changed = decode64(forge64(fp_area=bytes(area)), previous=entry)
    assert fp_changed != entry and fp_changed.raw == entry.raw
    assert [c[0] for c in diff_frames(entry, fp_changed).changes] == ["fpstate.xmm0"]
    assert len(fp_decodes) == 2  # only the changed FP area was decoded again


def test_compiled_to_json_of_step_records_and_diffs() -> None:
    from sigdbg.decode.disasm_model import StepRecord
    from sigdbg.decode.sigframe import FrameDiff

    step = StepRecord(0x401000, b"\x48\xc7\xc0\x0f\x00\x00\x00", "movq $0xf, %rax",
                      {"rax": (1, 15), "rip": (0x401000, 0x401007)}, None)
    diff = FrameDiff((("mcontext.rip", 1, 2), ("sigmask", 0, 1 << 9)))
    for model in (step, diff, FrameDiff(())):
        assert model.to_json() == reference_json(model)
        assert model.json_view() == model.to_json()
    assert step.to_json()["bytes"] == "48c7c00f000000"
    assert step.to_json()["changed"] == {"rax": [1, 15], "rip": [0x401000, 0x401007]}


def test_compare_restored_rules() -> None:
    """sigreturn's restore rules (FIX_EFLAGS, RPL 3 on cs/ss, 16-bit segments)."""
    from sigdbg.abi.x86.abi import FIX_EFLAGS
    from sigdbg.decode.sigreturn_rules import compare_restored
    from tests.unit.test_forged_frames import REGS64

    frame = decode64(forge64(regs=dict(REGS64, cs=0x30, ss=0x28)))  # RPL 0 in the frame
    mc = frame.mcontext
    regs = {reg: mc[name] for name, reg in X86_64.mcontext_regs}
    regs["cs"] = mc["cs"] | 3
    regs["ss"] = (mc["ss"] | 3) | 0xABCD_0000  # only the selector's 16 bits count
    diffs, not_compared = compare_restored(X86_64, frame, regs)
    assert diffs == () and not_compared == ("fs", "gs", "eflags bits outside FIX_EFLAGS")
    outside = 1 << 9  # IF: not taken from the frame
    assert not FIX_EFLAGS & outside
    assert compare_restored(X86_64, frame, dict(regs, eflags=mc["eflags"] ^ outside))[0] == ()
    # a register the backend did not report is not compared (not a difference)
    missing = {k: v for k, v in regs.items() if k != "rip"}
    assert compare_restored(X86_64, frame, dict(missing, rax=mc["rax"] + 1))[0] == (
        f"rax: frame {mc['rax']:#x} restored {mc['rax'] + 1:#x}",)
    bad = dict(regs, eflags=mc["eflags"] ^ 1, rip=mc["rip"] + 1, cs=0x2B)
    got = compare_restored(X86_64, frame, bad)[0]
    assert got == (
        f"rip: frame {mc['rip']:#x} restored {mc['rip'] + 1:#x}",
        f"eflags: frame {mc['eflags']:#x} restored {mc['eflags'] ^ 1:#x} "
        "(differs in sigreturn-restored bits 0x1)",
        "cs: frame 0x33 restored 0x2b",
    )


def test_one_store_init_matches_the_dataclass_init() -> None:
    from sigdbg.abi.x86.xsave import FpState
    from sigdbg.decode.model import one_store_init
    from sigdbg.decode.sigframe import SigFrame
    from sigdbg.decode.siginfo import SigInfo
    from sigdbg.engine import events as ev

    classes = [SigFrame, FpState, SigInfo, *ev._NAMES]
    for cls in classes:
        fields = dataclasses.fields(cls)
        required = {f.name: f"v_{f.name}" for f in fields
                    if f.default is dataclasses.MISSING}
        fast = cls(**required)
        slow = object.__new__(cls)
        cls._dataclass_init(slow, **required)
        assert vars(fast) == vars(slow) and fast == slow, cls.__name__
        assert list(vars(fast)) == [f.name for f in fields]  # field order kept
        with pytest.raises(dataclasses.FrozenInstanceError):
            fast.pid = 0  # still frozen
        with pytest.raises(TypeError):
            cls(*required.values(), *range(len(fields) + 1))  # too many arguments
    frame = frames()[0]
    again = SigFrame(**{f.name: getattr(frame, f.name) for f in dataclasses.fields(SigFrame)})
    assert again == frame and again.raw == frame.raw

    @dataclasses.dataclass(frozen=True)
    class WithFactory:
        x: list[int] = dataclasses.field(default_factory=list)

    with pytest.raises(TypeError, match="default factories"):
        one_store_init(WithFactory)


def test_stale_frame_siginfo_fits_the_schema_only_when_marked_stale() -> None:
    """x86_64 handlers without SA_SIGINFO leave the frame's 128 info bytes
    unwritten: whatever they decode to is reported with siginfo_valid false,
    and the trace schema accepts any signal number there -- and only there."""
    import json
    from pathlib import Path

    import jsonschema

    from sigdbg.engine import events as ev
    from tests.unit.test_forged_frames import siginfo64

    schema = json.loads((Path(__file__).parents[2] / "docs" / "trace-schema.json").read_text())
    check = jsonschema.validators.validator_for(schema)(schema)
    stale = siginfo64("kill", 8192, 0, si_pid=0, si_uid=0)  # old stack contents
    frame = decode64(forge64(info=stale))  # delivered: signal 35
    assert not frame.siginfo_valid and frame.siginfo is not None
    assert frame.siginfo.si_signo == 8192
    line = {**ev.HandlerEntered(1, 1, 0x401000, frame).to_json(), "schema": 1}
    assert list(check.iter_errors(line)) == []
    claimed_valid = {**line, "frame": {**line["frame"], "siginfo_valid": True}}
    assert any("8192" in e.message for e in check.iter_errors(claimed_valid))
    delivered = {**ev.SignalDelivered(1, 1, frame.siginfo, "handler", 0).to_json(), "schema": 1}
    assert any("8192" in e.message for e in check.iter_errors(delivered))


def test_fpstate_in_place_memo_compares_every_byte_of_the_area(fp_decodes: list[int]) -> None:
    """decode_fpstate_in reuses the last decode at an address only for equal bytes."""
    base = 0x7000_0040
    area = bytearray(forge_fp_area(16))
    pad = b"\x55" * 64  # the area sits inside a bigger bulk read, as on the stack
    first = xsave.decode_fpstate_in(X86_64, pad + bytes(area) + pad, 64, base)
    assert first == xsave._decode(fp_memory(bytes(area), base), X86_64, base)
    assert len(fp_decodes) == 2  # (one of them the reference decode)
    again = xsave.decode_fpstate_in(X86_64, pad + bytes(area) + b"\x00", 64, base)
    assert again == first and len(fp_decodes) == 2  # equal bytes: not decoded again
    for at in (160, len(area) - 1):  # xmm0's low byte; MAGIC2's last byte
        area[at] ^= 0x01
        n = len(fp_decodes)
        other = xsave.decode_fpstate_in(X86_64, pad + bytes(area), 64, base)
        assert other is not None and other != first and len(fp_decodes) == n + 1
        assert other == xsave._decode(fp_memory(bytes(area), base), X86_64, base)
        area[at] ^= 0x01
    # the same bytes decoded for the other ABI are decoded for it
    n = len(fp_decodes)
    other_abi = xsave.decode_fpstate_in(I386, pad + bytes(area), 64, base)
    assert len(fp_decodes) == n + 1
    assert other_abi is not None and len(other_abi.xmm) == 8 != len(first.xmm)
    # an area cut short by the end of the read is not decoded from it
    assert xsave.decode_fpstate_in(X86_64, pad + bytes(area[:-1]), 64, base + 64) is None
    # nor one that starts before the read (a forged pointer below the frame),
    # even when the read's tail holds the bytes last decoded at that address
    assert xsave.decode_fpstate_in(X86_64, pad + bytes(area), 64, base) is not None
    assert xsave.decode_fpstate_in(X86_64, pad + bytes(area), -len(area), base) is None


def test_event_json_puts_the_event_name_first_and_nests_models() -> None:
    from sigdbg.engine import events as ev

    frame = decode64(forge64())
    assert frame.siginfo is not None
    cases = [ev.SignalDelivered(1, 2, frame.siginfo, "handler", 0x401000),
             ev.HandlerEntered(1, 2, 0x401100, frame),
             ev.Exited(1, 1, 0)]
    for event in cases:
        got = event.to_json()
        assert next(iter(got)) == "event" and got["event"] == event.name
        want = {f.name: reference_json(getattr(event, f.name))
                for f in dataclasses.fields(event)}  # type: ignore[arg-type]
        if "frame" in want:
            want["frame"]["sigmask_names"] = list(frame.sigmask_names)
        assert got == {"event": event.name, **want}
        assert event.json_view() == got


def test_json_wire_serializes_like_to_json_and_encodes_shared_parts_once(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The trace writer's path: shared models spliced in as pre-encoded fragments."""
    import orjson

    from sigdbg.decode.disasm_model import StepRecord
    from sigdbg.decode.sigframe import SigFrame, diff_frames
    from sigdbg.engine import events as ev

    builds: list[int] = []
    real_build = SigFrame._build_wire

    def counting_build(self: SigFrame, encode: Any) -> Any:
        builds.append(self.address)
        return real_build(self, encode)

    monkeypatch.setattr(SigFrame, "_build_wire", counting_build)

    encoded: list[Any] = []

    def encode(value: Any) -> Any:
        encoded.append(value)
        return orjson.Fragment(orjson.dumps(value))

    frame = decode64(forge64())
    assert frame.siginfo is not None and frame.fpstate is not None
    step = StepRecord(0x401000, b"\x0f\x05", "syscall", {"rax": (15, 0)}, "rt_sigreturn")
    events = [
        ev.SignalDelivered(1, 2, frame.siginfo, "handler", 0x401000),
        ev.HandlerEntered(1, 2, 0x401100, frame),
        ev.SigreturnStep(1, 2, step),
        ev.SigreturnEntered(1, 2, "rt_sigreturn", frame, diff_frames(frame, frame)),
        ev.ContextRestored(1, 2, True, {"rip": 1}, (), ("orig_rax",)),
        ev.Exited(1, 1, 0),
    ]
    for event in events:
        assert orjson.loads(orjson.dumps(event.json_wire(encode))) == event.to_json()
    # siginfo, restorer and FP state: each encoded once although used four times
    assert len(encoded) == 3
    # the frame is in two events (handler entry, sigreturn): built once
    assert builds == [frame.address]
    assert frame.json_wire(encode) == frame.json_wire(encode) and len(builds) == 1
    other: list[Any] = []
    frame.siginfo.json_wire(lambda v: other.append(v) or orjson.Fragment(orjson.dumps(v)))
    assert other == [frame.siginfo.json_view()]  # another encoder gets its own encoding


def test_classify_reads_wait_status_like_the_libc_macros() -> None:
    """classify spells out the wait(2) status bits; os.W* are the reference."""
    import os
    import signal

    from sigdbg.engine.stops import classify

    info = bytearray(128)
    statuses = [code << 8 for code in (0, 1, 42, 255)]  # exited
    statuses += [sig | core for sig in (1, 9, 11, 31, 64) for core in (0, 0x80)]  # killed
    statuses += [(event << 16) | (sig << 8) | 0x7F for sig in (5, 10, 19)
                 for event in (0, 1, 4, 6, 128)]  # stopped
    statuses.append(((5 | 0x80) << 8) | 0x7F)  # a syscall-stop (never with an event)
    for status in statuses:
        stop = classify(77, status, bytes(info), False, 70)
        if os.WIFEXITED(status):
            assert (stop.kind, stop.status) == ("exited", os.WEXITSTATUS(status)), hex(status)
        elif os.WIFSIGNALED(status):
            assert (stop.kind, stop.sig) == ("killed", os.WTERMSIG(status)), hex(status)
        else:
            assert os.WIFSTOPPED(status)
            sig, event = os.WSTOPSIG(status), status >> 16
            assert stop.event == event and stop.status == status, hex(status)
            if sig == signal.SIGTRAP | 0x80:
                assert (stop.kind, stop.sig) == ("syscall", signal.SIGTRAP)
            else:
                assert stop.sig == sig
                assert stop.kind == ("signal" if not event else "event" if event != 128
                                     else "group" if sig == signal.SIGSTOP else "interrupt")


def test_decode_with_a_view_equals_decode_with_separate_arguments() -> None:
    """The engine passes its per-address-space view; other callers pass maps etc."""
    from tests.unit.test_forged_frames import FRAME64, MAPS64, FakeMemory

    class View:
        def __init__(self) -> None:
            self.restorers: dict[int, Any] = {}
            self.asked = 0

        def maps(self) -> Any:
            self.asked += 1
            return MAPS64

        def lookup(self, address: int) -> Any:
            return None

        def exe_path(self) -> str:
            return ""

    regions = forge64()
    plain = decode_sigframe(FakeMemory(regions), X86_64, FRAME64, maps=MAPS64, signo=35)
    view = View()
    first = decode_sigframe(FakeMemory(regions), X86_64, FRAME64, view=view, signo=35)
    again = decode_sigframe(FakeMemory(regions), X86_64, FRAME64, view=view, signo=35)
    assert first == plain and again == plain
    assert view.asked == 1 and list(view.restorers) == [plain.pretcode]  # classified once


def reference_vector_json(fp: xsave.FpState) -> dict[str, Any]:
    """The vector registers' JSON as the model's integers spell it: fixed-width
    hex of each value, YMMn = its upper half above XMMn."""
    xmm = [f"{v:#034x}" for v in fp.xmm]
    if fp.ymm_hi is None:
        return {"xmm": xmm, "ymm_hi": None, "ymm": None}
    return {"xmm": xmm, "ymm_hi": [f"{v:#034x}" for v in fp.ymm_hi],
            "ymm": [f"{hi << 128 | lo:#066x}" for lo, hi in zip(fp.xmm, fp.ymm_hi)]}


@pytest.mark.parametrize("abi", [X86_64, I386], ids=lambda a: a.name)
def test_vector_hex_from_the_area_bytes_equals_hex_of_the_values(abi: Any) -> None:
    """FpState's JSON spells XMM/YMM from the area's bytes (one hex() for all
    registers): over random forged areas it must equal the fixed-width hex of
    the decoded integers, and the integers the bytes' little-endian values."""
    rng = random.Random(15)
    nxmm = 16 if abi is X86_64 else 8
    base = 0x7000_0040 if abi is X86_64 else 0x7000_0010
    for trial in range(40):
        area = bytearray(forge_fp_area(nxmm) if abi is X86_64 else
                         T32.FPSTATE_32_HEADER.encode({"magic": T32.X86_FXSR_MAGIC})
                         + forge_fp_area(nxmm, extra=112))
        fx = 0 if abi is X86_64 else T32.FXSAVE_OFFSET
        regs = rng.randbytes(16 * nxmm)
        if trial % 4 == 0:  # extremes: all ones, all zeros, a lone top bit
            regs = bytes([0xFF] * 16 * nxmm) if trial % 8 else bytes(16 * nxmm - 1) + b"\x80"
        area[fx + 160 : fx + 160 + 16 * nxmm] = regs
        hi = rng.randbytes(16 * nxmm)
        area[fx + 576 : fx + 576 + 16 * nxmm] = hi
        fp = xsave._decode(fp_memory(bytes(area), base), abi, base)
        assert fp.xmm == tuple(int.from_bytes(regs[i : i + 16], "little")
                               for i in range(0, 16 * nxmm, 16))
        assert fp.ymm_hi == tuple(int.from_bytes(hi[i : i + 16], "little")
                                  for i in range(0, 16 * nxmm, 16))
        assert fp.xmm_raw == regs and fp.ymm_hi_raw == hi
        got = fp.to_json()
        assert {k: got[k] for k in ("xmm", "ymm_hi", "ymm")} == reference_vector_json(fp)
        # without the bytes (a model built by hand) the same JSON comes from the values
        bare = dataclasses.replace(fp, xmm_raw=b"", ymm_hi_raw=b"")
        assert bare.to_json() == got


def test_vector_hex_ignores_bytes_that_do_not_match_the_register_count() -> None:
    values = (1, 2**128 - 1)
    assert xsave._hex128(values, b"\x01" + bytes(15) + b"\xff" * 16) == \
        [f"{v:032x}" for v in values]
    assert xsave._hex128(values, b"\x07" * 16) == [f"{v:032x}" for v in values]  # too short
