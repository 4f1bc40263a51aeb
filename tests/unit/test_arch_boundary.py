"""The architecture boundary of issue 13: x86 facts live in ``sigdbg/abi/x86/``.

A ratchet.  ``tests/archscan.py`` (also behind ``scripts/arch_inventory.py``)
reads every module of ``sigdbg/`` and ``plugins/`` outside ``sigdbg/abi/x86/``
(the registry, the ``Abi`` type and the other arches' packages included) with
:mod:`tokenize` and finds x86-only register names (rip, esp, rbp, eflags,
orig_rax, the cs/ss selectors, fs_base, ...), opcodes however spelled (int3 /
0xcc, ``0f 05`` syscall, ``cd 80`` int $0x80, ``0f 34`` sysenter), the debug
registers and their ``struct user`` offset, the red zone, x86 frame kinds, the
XSAVE vocabulary and the arch names themselves, in identifiers, string and
bytes literals and numbers, not in comments or docstrings.

:data:`KNOWN_X86_DEBT` lists, per module, the keys found there when the test
was written.  The test fails both ways:

- a key that a module has and its entry does not list (a new x86 site: put
  the fact in the x86 ``Abi`` values, ``sigdbg/abi/x86/abi.py``, as a field
  every ABI has, and ask the ABI, rather than growing the list);
- a listed key that is gone (the site was fixed: delete it from the list, so
  that it cannot come back unnoticed).

So the list only shrinks; docs/architecture.md section 5 says what each
entry is and where it goes.  Hits the scanner makes on code that is not x86
are in :data:`NOT_X86`, each tied to the text of its line, and an entry
whose line is gone fails too.  The scanner and the comparison are tested on
small generated sources below, so that "no new site" means something.

The same holds for ARM and AArch64 (one family: an AArch64 kernel runs ARM
tasks through its compat layer): the scanner's second word list
(``tests/archscan.py`` ``ARM``: pstate, cpsr, x30, fpsimd/fpsr/fpcr/fpscr,
NT_ARM_*, the signal-frame records' names and magics, aarch64/arm64/thumb,
sigpage, kuser, vfp, sve, the brk/svc/bkpt encodings) finds ARM facts outside
``sigdbg/abi/aarch64/`` and ``sigdbg/abi/arm/``, held by
:data:`KNOWN_ARM_DEBT` and :data:`NOT_ARM` the same way.  Each arch's package
is in the other's scan: x86's package names no ARM fact and the ARM packages
no x86 fact except the entries of :data:`NOT_X86` that are ARM's own (its
``struct rt_sigframe``, HWCAP_CPUID).
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from tests.archscan import (
    ARM,
    ROOT,
    X86,
    Hit,
    WordList,
    in_scope,
    keys_by_file,
    scan_source,
    scan_tree,
)

#: module -> the x86 keys it still has (``scripts/arch_inventory.py`` shows the lines);
#: empty since w6/debtnames and w6/debtrender: no module outside sigdbg/abi/x86/ names x86
KNOWN_X86_DEBT: dict[str, set[str]] = {}

#: (module, key, a fragment of the line, why it is not x86): scanner hits on
#: code that only looks like x86
NOT_X86: tuple[tuple[str, str, str, str], ...] = (
    ("sigdbg/decode/cfi.py", "0x2b", "0x2B: lambda a, b: int(a > b)", "DW_OP_gt"),
    ("sigdbg/decode/cfi.py", "0x23", "op == 0x23", "DW_OP_plus_uconst"),
    ("sigdbg/decode/elfimage.py", "0x100", '0x100: "LINUX_ELFNOTE_BUILD_SALT"', "a note type"),
    ("sigdbg/engine/leave.py", "0x100", "unpack_from(raw, 8)[0] >= 0x100",
     "si_code with a ptrace event in bits 8..15"),
    ("sigdbg/engine/leave.py", "0x100", "if code >= 0x100:", "the same"),
    ("sigdbg/backends/ptrace_task.py", "0x100", "if code >= 0x100 or code ==", "the same"),
    ("sigdbg/shell/expr.py", "cs", 'letter in "cs"', "the x/FMT letters c and s"),
    ("sigdbg/abi/aarch64/a64frame.py", "rt_sigframe", 'KIND = "rt_sigframe"',
     "AArch64's own struct rt_sigframe"),
    ("sigdbg/abi/aarch64/a64frame.py", "rt_sigframe", "_FRAME = aarch64.RT_SIGFRAME", "the same"),
    ("sigdbg/abi/aarch64/__init__.py", "rt_sigframe", "rt_sigframe",
     "AArch64's own struct rt_sigframe (arch/arm64/kernel/signal.c)"),
    ("sigdbg/abi/aarch64/__init__.py", "rt_sigframe", "RT_SIGFRAME", "the same"),
    ("sigdbg/abi/arm/__init__.py", "rt_sigframe", "rt_sigframe",
     "ARM's own struct rt_sigframe and compat_rt_sigframe (arch/arm/kernel/signal.h, "
     "arch/arm64/kernel/signal32.c)"),
    ("sigdbg/abi/arm/__init__.py", "rt_sigframe", "RT_SIGFRAME", "the same"),
    ("sigdbg/abi/aarch64/abi.py", "rt_sigframe", "rt_sigframe",
     "AArch64's own struct rt_sigframe, as the AArch64 ABI's frame kind row"),
    ("sigdbg/abi/aarch64/abi.py", "rt_sigframe", "RT_SIGFRAME", "the same"),
    ("sigdbg/abi/arm/frames.py", "rt_sigframe", "compat_rt_sigframe",
     "ARM's own struct compat_rt_sigframe (arch/arm64/kernel/signal32.c), its row"),
    ("sigdbg/abi/arm/frames.py", "rt_sigframe", "COMPAT_RT_SIGFRAME", "the same"),
    ("sigdbg/abi/__init__.py", "x86", "from sigdbg.abi.x86 import abi as _x86",
     "the registry line of the x86 package"),
    ("sigdbg/abi/__init__.py", "x86", "*_x86.ABIS,", "the same"),
    ("sigdbg/abi/__init__.py", "x86", "MappingProxyType(dict(_x86.SCHEMA_KEYS))",
     "the same: the trace schema's JSON keys that are x86 names (SCHEMA_KEYS)"),
    ("sigdbg/decode/fparea.py", "x86", "from sigdbg.abi.x86 import xsave as _x86",
     "the registry line of the x86 FP-area walker"),
    ("sigdbg/decode/fparea.py", "x86", "from sigdbg.abi.x86 import vector_regs as _x86_vector",
     "the same, its vector registers"),
    ("sigdbg/names/__init__.py", "x86", "from sigdbg.abi.x86.names import (",
     "the registry line of the x86 name tables (XSAVE features, EFLAGS, trap vectors)"),
    ("sigdbg/decode/fparea.py", "xsave", "from sigdbg.abi.x86 import xsave as _x86",
     "the same (the walker's module name)"),
    ("sigdbg/decode/fparea.py", "x86", "= _x86.", "the same"),
    ("sigdbg/abi/aarch64/names.py", "cpuid", "asimdhp cpuid asimdrdm",
     "AArch64's HWCAP_CPUID (EL0 reads of the ID registers), not the x86 instruction"),
    ("sigdbg/decode/fparea.py", "x86", "= _x86_vector.", "the same"),
)


#: module -> the ARM/AArch64 keys it still has, outside sigdbg/abi/aarch64/ and
#: sigdbg/abi/arm/ (one family: AArch64 runs ARM tasks through its compat
#: layer, so each of the two packages may name the other's facts)
KNOWN_ARM_DEBT: dict[str, set[str]] = {
    "sigdbg/abi/abis.py": {"arm"},
    "sigdbg/engine/events.py": {"aarch64", "arm"},
    "sigdbg/render/text.py": {"aarch64", "arm", "cpsr", "kuser", "pstate", "thumb", "x30"},
}

#: (module, key, a fragment of the line, why it is not ARM): scanner hits on
#: code that only looks like ARM, and the registry lines that must name the packages
NOT_ARM: tuple[tuple[str, str, str, str], ...] = (
    ("sigdbg/abi/__init__.py", "aarch64", "from sigdbg.abi.aarch64 import abi as _aarch64",
     "the registry line of the AArch64 package"),
    ("sigdbg/abi/__init__.py", "aarch64", "*_aarch64.ABIS,", "the same"),
    ("sigdbg/abi/__init__.py", "arm", "from sigdbg.abi.arm import abi as _arm",
     "the registry line of the ARM package"),
    ("sigdbg/abi/__init__.py", "arm", "*_arm.ABIS,", "the same"),
    ("sigdbg/backends/base.py", "arm", "def arm_breakpoint(",
     "to arm: insert a breakpoint (the verb, not the architecture)"),
    ("sigdbg/backends/ptrace_task.py", "arm", "def arm_breakpoint(", "the same"),
    ("sigdbg/backends/tracercontrol.py", "arm", ".arm_breakpoint(address)", "the same"),
    ("sigdbg/engine/sigreturn.py", "arm", "def _arm(self, address: int)", "the same"),
    ("sigdbg/engine/sigreturn.py", "arm", "self._arm(top.frame.pretcode)", "the same"),
    ("sigdbg/names/sicodes.py", "arm", '"asynchronous ARM MTE error"',
     "the generic si_code table (include/uapi/asm-generic/siginfo.h) says what SEGV_MTEAERR is"),
    ("sigdbg/names/sicodes.py", "arm", '"synchronous ARM MTE exception"', "the same, SEGV_MTESERR"),
    # decode/frames.py: the registry of the frame models of their own (AArch64,
    # AArch32), as decode/fparea.py is the x86 FP-area walker's
    ("sigdbg/decode/frames.py", "aarch64", "from sigdbg.abi import AARCH64, ARM, Abi",
     "the registry of the arch packages' own frame models"),
    ("sigdbg/decode/frames.py", "arm", "from sigdbg.abi import AARCH64, ARM, Abi", "the same"),
    ("sigdbg/decode/frames.py", "aarch64", "from sigdbg.abi.aarch64 import a64frame as _aarch64",
     "the same"),
    ("sigdbg/decode/frames.py", "arm", "from sigdbg.abi.arm import a32frame as _arm", "the same"),
    ("sigdbg/decode/frames.py", "aarch64", "AnyFrame = SigFrame | _aarch64.A64Frame | _arm.",
     "the same (the union of the models)"),
    ("sigdbg/decode/frames.py", "arm", "AnyFrame = SigFrame | _aarch64.A64Frame | _arm.",
     "the same"),
    ("sigdbg/decode/frames.py", "aarch64", "def _decode_aarch64(", "the same"),
    ("sigdbg/decode/frames.py", "aarch64", "return _aarch64.decode_a64_frame(", "the same"),
    ("sigdbg/decode/frames.py", "arm", "_OwnModel(ARM, _arm.A32Frame", "the same"),
    ("sigdbg/decode/frames.py", "aarch64", "_OwnModel(AARCH64, _aarch64.A64Frame", "the same"),
    ("sigdbg/decode/frames.py", "aarch64", "_aarch64.diff_a64_frames),", "the same"),
    ("sigdbg/decode/specialpages.py", "arm", "from sigdbg.abi.arm import specialpages as _arm",
     "the registry line of the ARM special-page decoder (kuser helpers, [sigpage])"),
    ("sigdbg/decode/specialpages.py", "arm", "= _arm.", "the same"),
)

def compare(found: dict[str, frozenset[str]], debt: dict[str, set[str]]
            ) -> tuple[list[str], list[str]]:
    """(new "module: key" sites, listed sites that are gone), sorted."""
    new = sorted(f"{m}: {k}" for m, keys in found.items() for k in keys - debt.get(m, set()))
    gone = sorted(f"{m}: {k}" for m, keys in debt.items()
                  for k in keys - found.get(m, frozenset()))
    return new, gone


Exception = tuple[str, str, str, str]


def _excepted(rel: str, hit: Hit, lines: list[str], entries: tuple[Exception, ...]
              ) -> Exception | None:
    for entry in entries:
        if entry[0] == rel and entry[1] == hit.key and entry[2] in lines[hit.line - 1]:
            return entry
    return None


def _not_x86(rel: str, hit: Hit, lines: list[str]) -> Exception | None:
    return _excepted(rel, hit, lines, NOT_X86)


#: (word list, its debt, its exceptions, where its facts live)
BOUNDARIES = {
    "x86": (X86, KNOWN_X86_DEBT, NOT_X86, "sigdbg/abi/x86/"),
    "arm": (ARM, KNOWN_ARM_DEBT, NOT_ARM, "sigdbg/abi/aarch64/ or sigdbg/abi/arm/"),
}
_TREES: dict[str, dict[str, list[Hit]]] = {}


def _tree(words: WordList) -> dict[str, list[Hit]]:
    if words.name not in _TREES:
        _TREES[words.name] = scan_tree(ROOT, words)
    return _TREES[words.name]


@pytest.mark.parametrize("arch", BOUNDARIES)
def test_no_new_arch_site_and_no_stale_debt(arch: str) -> None:
    words, debt, entries, home = BOUNDARIES[arch]
    kept: dict[str, list[Hit]] = {}
    for rel, hits in _tree(words).items():
        lines = (ROOT / rel).read_text().splitlines()
        kept[rel] = [h for h in hits if _excepted(rel, h, lines, entries) is None]
    new, gone = compare(keys_by_file(kept), debt)
    where = {f"{rel}: {h.key}": f"{rel}:{h.line} {h.token}" for rel, hs in kept.items()
             for h in hs}
    assert not new, (f"{arch} knowledge outside {home} (ask the Abi instead):\n"
                     + "\n".join(where[s] for s in new))
    assert not gone, (f"fixed sites still listed in KNOWN_{arch.upper()}_DEBT (delete them):\n"
                      + "\n".join(gone))


@pytest.mark.parametrize("arch", BOUNDARIES)
def test_exceptions_still_match(arch: str) -> None:
    words, _debt, entries, _home = BOUNDARIES[arch]
    tree = _tree(words)
    stale = []
    for entry in entries:
        rel, key = entry[0], entry[1]
        lines = (ROOT / rel).read_text().splitlines()
        if not any(_excepted(rel, h, lines, entries) == entry for h in tree.get(rel, [])
                   if h.key == key):
            stale.append(entry)
    assert not stale, f"NOT_{arch.upper()} entries whose line is gone (delete them): {stale}"


@pytest.mark.parametrize("arch", BOUNDARIES)
def test_debt_names_only_modules_in_scope(arch: str) -> None:
    words, debt, _entries, _home = BOUNDARIES[arch]
    for rel, keys in debt.items():
        assert in_scope(Path(rel), words) and (ROOT / rel).is_file(), rel
        assert keys, f"{rel}: an empty entry (delete it)"


# -- the scanner, on small generated sources -----------------------------------------------
def keys(src: str) -> set[str]:
    return {h.key for h in scan_source(textwrap.dedent(src))}


def test_comments_and_docstrings_do_not_count() -> None:
    src = '''
        """Module docstring: rip, rsp, int3, b"\\xcc", x86_64, the red zone."""
        # a comment naming eflags and orig_rax and 0f 05
        class C:
            """Class docstring: esp, ebp."""
            x = 1
            """An attribute docstring: DR7 at offset 848."""

            def f(self) -> int:
                \'\'\'Function docstring, multi-line:
                sysenter, cd 80, xmm0.\'\'\'
                return 2  # rax
        '''
    assert keys(src) == set()


def test_code_counts_identifiers_strings_bytes_numbers() -> None:
    assert keys("pc = regs.rip\n") == {"rip"}
    assert keys('pc = regs["eip"]\n') == {"eip"}
    assert keys("_RIP_OFFSET = 1\n") == {"rip"}        # underscores separate words
    assert keys("RED_ZONE = 1\n") == {"red_zone"}
    assert keys("a = s.orig_rax + s.fs_base\n") == {"orig_rax", "fs_base"}
    assert keys("set_debugreg(7, 1)\n") == {"debugreg"}
    assert keys("DR7 = 0\n") == {"dr7"}
    assert keys('t = "mov $15,%rax; syscall"\n') == {"rax"}
    assert keys('x = f"{regs.rsp:#x} at {name}"\n') == {"rsp"}   # f-string expressions
    assert keys('cs = mc["cs"]\nq = mc["ss"]\n') == {"cs", "ss"}
    assert keys("kind = 'rt_sigframe_ia32'\n") == {"rt_sigframe_ia32"}
    assert keys("m = X86_64\n") == {"x86_64"}
    assert keys("o = 312\nd = 848\nn = 298\nf = 0x100\n") == {"312", "848", "298", "0x100"}
    # a code string on the line of a docstring (byte and character columns differ)
    assert keys('def f():\n    "ééééééééééé"; x = "rsp"\n') == {"rsp"}


@pytest.mark.parametrize("spelling", [
    'b"\\xcc"', 'b"\\xCC"', 'b"\\314"', "bytes([0xcc])", "bytes([0xCC])", "bytes([204])",
    'b"\\x90\\xcc"', "INT3 = 1", '"int3"',
])
def test_int3_however_spelled(spelling: str) -> None:
    assert keys(f"x = {spelling}\n") == {"int3"}


@pytest.mark.parametrize(("spelling", "key"), [
    ('b"\\x0f\\x05"', "0f05"), ('bytes.fromhex("0f05")', "0f05"),
    ('bytes.fromhex("0f 05")', "0f05"), ('b"\\017\\005"', "0f05"),
    ('b"\\xcd\\x80"', "int80"), ('bytes.fromhex("cd80")', "int80"), ('"int $0x80"', "int80"),
    ('b"\\x0f\\x34"', "0f34"), ('bytes.fromhex("0f34")', "0f34"),
])
def test_system_call_instructions_however_spelled(spelling: str, key: str) -> None:
    assert keys(f"x = {spelling}\n") == {key}


def test_words_inside_other_words_do_not_count() -> None:
    src = '''
        def strip(response: str, syntax: int, description: str) -> str:
            receipt = "eaxes" + "crip" + "esprit"
            return response.strip() + receipt
        w = 0x80 + 128 + 256 + 35 + 51
        r8 = 0
        fs = "fstype"
        '''
    assert keys(src) == set()


def test_scan_tree_skips_abi_x86_and_reports_the_rest(tmp_path: Path) -> None:
    files = {
        "sigdbg/abi/x86/regs.py": "PC = 'rip'\n",
        "sigdbg/abi/x86/abi.py": "BREAKPOINT = b'\\xcc'\n",
        # the rest of abi/ is held to the boundary too: the registry, the value
        # types and the other arches' packages
        "sigdbg/abi/abis.py": "BREAKPOINT = b'\\xcc'\n",
        "sigdbg/abi/aarch64/abi.py": "SP = 'rsp'\n",
        "sigdbg/engine/loop.py": "def f(regs):\n    return regs.rip  # pc\n",
        "sigdbg/render/clean.py": "def f(abi, regs):\n    return regs[abi.pc]\n",
        "plugins/gdb/ext.py": "X = 'esp'\n",
        "tests/unit/test_x.py": "X = 'esp'\n",
    }
    for rel, text in files.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(text)
    found = keys_by_file(scan_tree(tmp_path))
    assert found == {"sigdbg/engine/loop.py": {"rip"}, "plugins/gdb/ext.py": {"esp"},
                     "sigdbg/abi/abis.py": {"int3"}, "sigdbg/abi/aarch64/abi.py": {"rsp"}}
    assert scan_tree(tmp_path)["sigdbg/engine/loop.py"] == [Hit(2, "rip", "rip")]


def test_compare_fails_both_ways() -> None:
    debt = {"a.py": {"rip", "esp"}, "b.py": {"int3"}}
    assert compare({"a.py": frozenset({"rip", "esp"}), "b.py": frozenset({"int3"})},
                   debt) == ([], [])
    # a new key in a listed module, and a new module
    assert compare({"a.py": frozenset({"rip", "esp", "rbp"}), "b.py": frozenset({"int3"}),
                    "c.py": frozenset({"0f05"})}, debt) == (["a.py: rbp", "c.py: 0f05"], [])
    # a listed key fixed, and a listed module clean
    assert compare({"a.py": frozenset({"rip"})}, debt) == ([], ["a.py: esp", "b.py: int3"])


# -- the ARM/AArch64 word list, on small generated sources ---------------------------------
def arm_keys(src: str) -> set[str]:
    return {h.key for h in scan_source(textwrap.dedent(src), ARM)}


def test_arm_comments_and_docstrings_do_not_count() -> None:
    src = '''
        """Module docstring: pstate, cpsr, x30, fpsimd_context, NT_ARM_SVE, brk #0."""
        # a comment naming the sigpage, kuser helpers, Thumb and aarch64
        class C:
            """Class docstring: fpscr, vfp."""
            x = 1
            """An attribute docstring: FPSIMD_MAGIC 0x46508001."""

            def f(self) -> int:
                return 2  # svc #0
        '''
    assert arm_keys(src) == set()


def test_arm_code_counts_identifiers_strings_bytes_numbers() -> None:
    assert arm_keys("flags = regs.pstate\n") == {"pstate"}
    assert arm_keys('c = mc["arm_cpsr"]\n') == {"arm", "cpsr"}
    assert arm_keys("_FPSIMD_MAGIC = 1\n") == {"fpsimd_magic"}
    assert arm_keys('lr = regs["x30"]\n') == {"x30"}
    assert arm_keys("n = NT_ARM_SVE\n") == {"nt_arm_sve"}
    assert arm_keys('k = "sigpage"\nh = "kuser"\n') == {"sigpage", "kuser"}
    assert arm_keys('m = f"{abi.thumb_disasm_mode}"\n') == {"thumb"}
    assert arm_keys("if abi is AARCH64 or abi.name == 'arm64': pass\n") == {"aarch64", "arm64"}
    assert arm_keys("m = 0x46508001\ne = 0x45535201\n") == {"fpsimd_magic", "esr_magic"}
    assert arm_keys("s = regs.fpsr + regs.fpcr + vfp.fpscr\n") == {"fpsr", "fpcr", "vfp",
                                                                    "fpscr"}


@pytest.mark.parametrize(("spelling", "key"), [
    ('b"\\x00\\x00\\x20\\xd4"', "brk"), ("0xd4200000", "brk"), ('"brk #0"', "brk"),
    ('b"\\x01\\x00\\x00\\xd4"', "svc"), ("0xD4000001", "svc"), ('"svc #0"', "svc"),
    ('b"\\x00\\x00\\x00\\xef"', "svc"), ("0xef000000", "svc"), ('b"\\x00\\xdf"', "svc"),
    ("0xdf00", "svc"), ('b"\\xf0\\x01\\xf0\\xe7"', "bkpt"), ("0xe7f001f0", "bkpt"),
    ('b"\\x01\\xde"', "bkpt"), ("0xde01", "bkpt"), ('"bkpt"', "bkpt"),
])
def test_arm_instructions_however_spelled(spelling: str, key: str) -> None:
    assert arm_keys(f"x = {spelling}\n") == {key}


def test_arm_words_inside_other_words_do_not_count() -> None:
    src = '''
        def alarm(charm: str, warmup: int, farmer: str, resvc: int) -> str:
            brk = "brk"  # the brk(2) system call, not the instruction
            sved = harmless = 57088 + 56833  # 0xdf00, 0xde01 as decimals
            return charm + farmer + "thumbnail"[:0] + "swarm"
        '''
    assert arm_keys(src) == set()


def test_arm_scan_tree_skips_both_arm_packages(tmp_path: Path) -> None:
    files = {
        "sigdbg/abi/aarch64/records.py": "MAGIC = 0x46508001\nPC = 'pstate'\n",
        "sigdbg/abi/arm/frame.py": "CPSR = 'arm_cpsr'\n",
        # the x86 package is held to the ARM boundary, as the ARM packages to the x86 one
        "sigdbg/abi/x86/abi.py": "X = 'pstate'\n",
        "sigdbg/abi/abis.py": "thumb_mode: str = ''\n",
        "sigdbg/render/text.py": "def f(fr):\n    return fr.cpsr  # flags\n",
        "tests/unit/test_x.py": "X = 'pstate'\n",
    }
    for rel, text in files.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(text)
    found = keys_by_file(scan_tree(tmp_path, ARM))
    assert found == {"sigdbg/abi/x86/abi.py": {"pstate"}, "sigdbg/abi/abis.py": {"thumb"},
                     "sigdbg/render/text.py": {"cpsr"}}
    assert not in_scope(Path("sigdbg/abi/arm/frame.py"), ARM)
    assert in_scope(Path("sigdbg/abi/arm/frame.py"), X86)
