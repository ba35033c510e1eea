import random
import time

import pytest

from drevalkit.text import math_spans, one_line, terminal_safe

ESC = "\x1b"
BEL = "\x07"
ST = ESC + "\\"


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        # CSI: colours (16, 256, truecolour), bold, reset
        (f"{ESC}[31mred{ESC}[0m plain", "red plain"),
        (f"{ESC}[1;38;5;196mbold{ESC}[m", "bold"),
        (f"{ESC}[38;2;255;0;0mtrue{ESC}[39m", "true"),
        # CSI: cursor movement and erasing, used to overwrite earlier output
        (f"score 2{ESC}[1D{ESC}[1A{ESC}[2K9", "score 29"),
        (f"{ESC}[2J{ESC}[Hcleared", "cleared"),
        (f"{ESC}[10;20Hmoved{ESC}[s{ESC}[u", "moved"),
        # CSI private modes: alternate screen, hidden cursor, bracketed paste, mouse reporting
        (f"{ESC}[?1049h{ESC}[?25l{ESC}[?2004h{ESC}[?1000hx{ESC}[?1049l", "x"),
        # CSI with intermediate bytes (DECSCUSR cursor shape), and the 8-bit CSI introducer
        (f"a{ESC}[2 qb", "ab"),
        ("\x9b31mred\x9b0m", "red"),
        # OSC 8 hyperlinks: the link target goes, the visible text stays (ST and BEL terminators)
        (f"{ESC}]8;;https://evil.example/{ST}click here{ESC}]8;;{ST}", "click here"),
        (f"{ESC}]8;id=7;https://evil.example/{BEL}docs{ESC}]8;;{BEL}", "docs"),
        # OSC window title, OSC 52 clipboard write, OSC 4 palette change, 8-bit OSC with 8-bit ST
        (f"{ESC}]0;pwned{BEL}title", "title"),
        (f"{ESC}]2;owned{ST}t", "t"),
        (f"{ESC}]52;c;cm0gLXJmIH4={BEL}clip", "clip"),
        (f"{ESC}]4;1;rgb:ff/00/00{ST}pal", "pal"),
        ("\x9d0;title\x9cafter", "after"),
        # DCS (DECRQSS, sixel), APC (kitty graphics), PM, SOS, and their 8-bit introducers
        (f'{ESC}P$q"p{ST}dcs', "dcs"),
        (f"{ESC}Pq#0;2;0;0;0#0~~@@vv@@~~{ST}sixel", "sixel"),
        (f"{ESC}_Gf=100,a=T;aGVsbG8={ST}apc", "apc"),
        (f"{ESC}^private{ST}pm{ESC}Xsos{ST}", "pm"),
        ("\x90qpayload\x9cdone", "done"),
        # single ESC sequences: reset, save/restore cursor, reverse index, keypad mode, charsets, screen fill
        (f"{ESC}cafter reset", "after reset"),
        (f"{ESC}7a{ESC}8b{ESC}Mc{ESC}=d{ESC}>e", "abcde"),
        (f"x{ESC}(0lqqk{ESC}(B", "xlqqk"),
        (f"{ESC}#8filled", "filled"),
        (f"{ESC} Fseven-bit", "seven-bit"),
        # a lone or truncated ESC
        (f"end{ESC}", "end"),
        (f"trunc{ESC}[", "trunc"),
        (f"trunc{ESC}[31", "trunc31"),
    ],
)
def test_escape_sequences_are_removed(raw, shown):
    assert terminal_safe(raw) == shown


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("ok\x00\x01\x02\x03\x04\x05\x06 done", "ok done"),
        ("ring\x07 bell", "ring bell"),
        ("back\x08\x08\x08\x08good", "backgood"),  # backspaces cannot rub out text
        ("vertical\x0btab\x0cform feed", "verticaltabform feed"),
        ("shift\x0e\x0fout", "shiftout"),
        ("del\x7fete", "delete"),
        ("c1\x80\x84\x8d\x8e\x8f\x91\x9achars", "c1chars"),
        ("file\x1a\x1c\x1d\x1e\x1fsep", "filesep"),
    ],
)
def test_control_characters_are_removed(raw, shown):
    assert terminal_safe(raw) == shown


def test_carriage_returns_cannot_overprint_a_line():
    # "verdict: wrong" would display as "verdict: right" on a terminal that honours the CR
    assert terminal_safe("verdict: wrong\rverdict: right") == "verdict: wrong\nverdict: right"
    assert terminal_safe("a\r\nb\r\n") == "a\nb\n"
    assert terminal_safe("a\u2028b\u2029c\x85d") == "a\nb\nc\nd"


def test_bidirectional_overrides_are_removed():
    # Trojan Source: RLO makes "txt.exe" display reversed; isolates reorder the line
    assert terminal_safe("invoice\u202eexe.txt") == "invoiceexe.txt"
    assert terminal_safe("\u2066a\u2067b\u2068c\u2069 \u202a\u202b\u202c\u202dd") == "abc d"


def test_printable_text_newlines_and_tabs_are_kept():
    text = (
        "Résumé: 日本語, العربية\u200f, עברית, emoji 👩\u200d🔬 🇫🇷, maths ∑ ≤ ∞\n"
        "\tindented [1]; brackets [31m are text, not codes; 100% ~ ^ _ ` { } | \\ /\n"
        "zero\u200bwidth and non\u00a0breaking"
    )
    assert terminal_safe(text) == text


def test_mixed_hostile_judge_output():
    rationale = (
        f"{ESC}]0;dreval: all passed{BEL}The report is thorough.{ESC}[2K\r"
        f"{ESC}[32mScore 10{ESC}[0m {ESC}]8;;file:///etc/passwd{ST}[source]{ESC}]8;;{ST}\u202e01 erocs"
    )
    assert terminal_safe(rationale) == "The report is thorough.\nScore 10 [source]01 erocs"


def test_output_never_holds_a_control_character_and_is_idempotent():
    alphabet = [
        "\x1b",
        "[",
        "]",
        "P",
        "\\",
        "\x07",
        "\x9b",
        "\x9c",
        "\x9d",
        "\r",
        "\n",
        "\t",
        "\x00",
        "\x7f",
        "\x85",
        "\u202e",
        "\u2066",
        "a",
        "1",
        ";",
        " ",
        "é",
        "m",
        "#",
        "(",
        "_",
        "^",
    ]
    rng = random.Random(7)
    for _ in range(3000):
        raw = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 30)))
        safe = terminal_safe(raw)
        assert not any((ord(ch) < 32 and ch not in "\n\t") or 0x7F <= ord(ch) <= 0x9F for ch in safe), repr(raw)
        assert not any(ch in "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069" for ch in safe)
        assert terminal_safe(safe) == safe


def test_unterminated_control_strings_leave_only_inert_text():
    assert terminal_safe(f"{ESC}]0;never terminated\nnext line") == "0;never terminated\nnext line"
    assert terminal_safe(f"{ESC}P no end") == " no end"


def test_long_input_without_terminators_is_fast():
    raw = ("\x9d" + "x" * 50) * 20_000 + f"{ESC}]" * 20_000 + f"{ESC}P" + "y" * 100_000
    started = time.perf_counter()
    safe = terminal_safe(raw)  # linear, not quadratic (that would take minutes)
    assert time.perf_counter() - started < 5
    assert safe == "x" * 50 * 20_000 + "y" * 100_000


def test_one_line():
    assert one_line("  Claim:\n\tJWST launched\r\n in  2021.  ") == "Claim: JWST launched in 2021."
    assert one_line(f"{ESC}[31mred{ESC}[0m\nline") == "red line"
    assert one_line("short", 10) == "short"
    assert one_line("exactly10!", 10) == "exactly10!"
    assert one_line("the quick brown fox jumps over the lazy dog", 20) == "the quick brown fox…"
    cut = one_line("supercalifragilisticexpialidocious word", 12)
    assert cut == "supercalifr…" and len(cut) == 12
    assert len(one_line("word " * 100, 30)) <= 30
    assert one_line("abc", 1) == "…" and one_line("abc", 0) == ""


@pytest.mark.parametrize(
    ("text", "formulas"),
    [
        ("is \\( g = C_{2021} / C_{1997} \\) here", ["\\( g = C_{2021} / C_{1997} \\)"]),
        ("follows\n\\[ \\theta = 1.22 \\lambda / D \\]\nfor", ["\\[ \\theta = 1.22 \\lambda / D \\]"]),
        ("sum $$\\sum_i\n a_i$$ over", ["$$\\sum_i\n a_i$$"]),
        ("$x_1 * x_2$ and $a_i b_i$, ($y$)", ["$x_1 * x_2$", "$a_i b_i$", "$y$"]),
        ("a $2x + 1 = 5$ equation", ["$2x + 1 = 5$"]),
        # near misses: money, prices, an escaped citation marker, unclosed or spaced delimiters
        ("US$0.5 billion rose to US$5.0 billion", []),
        ("it costs $5 and $10 each", []),
        ("$5bn-$8bn, or $ 3 $", []),
        ("cited \\[1\\] and \\[2, 3\\]", []),
        ("an open \\( never closed, and \\[ neither", []),
        ("escaped \\$x$ is no formula, nor x$y$ glued", []),
        ("$a$b is not one, $c$ is", ["$c$"]),
        ("one line only: $a\nb$", []),
    ],
)
def test_math_spans(text, formulas):
    assert [text[a:b] for a, b in math_spans(text)] == formulas
