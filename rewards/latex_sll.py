"""math-verify's LaTeX parser (latex2sympy2_extended, an ANTLR grammar) in ANTLR's two-stage mode: SLL prediction
first, full LL only when SLL reports a syntax error.

This is ANTLR's own recipe for speed (PredictionMode.SLL: "the parser will either return a correct parse tree (i.e.
the same parse tree that would be returned with the LL prediction mode), or it will report a syntax error"), and
the library parses in LL mode only. On the 5,508 MATH answers with a letter, a backslash or a caret and an altered
copy of each, the two modes gave the same sympy result for every one, and the parses took 1.8x less time cold and
2.4x less warm (tests/test_answer_probe.py checks the sameness on a sample). Parsing is most of what a wrong
symbolic answer costs, so this is most of the answer checker's tail.

`install()` is idempotent; if the library's internals are not what this expects (another version), it leaves the
library as it is and says so once in the log.
"""

import contextlib
import logging
import threading

log = logging.getLogger("zero_rl.rewards.latex_sll")

_state = threading.local()  # per thread: whether the parser being created may use SLL
_installed = False


def install() -> bool:
    """Switch latex2sympy2_extended to two-stage parsing; True when active."""
    global _installed
    if _installed:
        return True
    try:
        from antlr4.atn.PredictionMode import PredictionMode
        from latex2sympy2_extended import latex2sympy2

        converter = latex2sympy2._Latex2Sympy
        create_parser, parse = converter.create_parser, converter.parse
    except (ImportError, AttributeError) as error:
        log.warning("latex2sympy2_extended's parser is not the expected one (%s); it keeps parsing in LL mode", error)
        return False

    def create_sll_parser(self, latex_str):
        parser = create_parser(self, latex_str)
        if getattr(_state, "sll", False):
            parser._interp.predictionMode = PredictionMode.SLL
        return parser

    def parse_two_stage(self, latex_str):
        if getattr(_state, "ll_only", False):
            return parse(self, latex_str)
        _state.sll = True
        try:
            return parse(self, latex_str)
        except Exception:  # a syntax error under SLL (or a real one): the library's own LL parse decides
            _state.sll = False
            return parse(self, latex_str)
        finally:
            _state.sll = False

    converter.create_parser, converter.parse = create_sll_parser, parse_two_stage
    _installed = True
    return True


@contextlib.contextmanager
def ll_only():
    """The library's own LL parsing inside the block (this thread), e.g. to compare the two."""
    _state.ll_only = True
    try:
        yield
    finally:
        _state.ll_only = False
