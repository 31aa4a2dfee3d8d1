"""Split a task's tests so that the verdict is computed by the trusted parent, never inside the sandbox.

A test such as `assert f(3) == [1, 2]` is cut in two with `ast`: the sandbox child evaluates only `f(3)` and
sends the value back as plain data (rewards/sandbox_harness.py `encode`); the parent evaluates
`__value_0 == [1, 2]`. The expected side never enters the child, so a program that takes over its own process
(signal handlers, frame walking, writing to the result pipe) can only claim values, and it cannot know which
values pass. Objects with a lying `__eq__` cannot cross the boundary: only None, bool, int, float, complex, str,
bytes and lists, tuples, sets, frozensets and dicts of them do (subclasses are sent as their base type).

What is sent to the child ("shipped") is a subtree of the assert that holds no data of the test other than the
arguments of calls into the program (`f(3)`: 3 is an input, not an expected value). `set(f(x)) == {1, 2}`
ships `set(f(x))`; `abs(f(x) - 0.5) < 1e-6` ships `f(x)` and the parent computes the rest; `assert f(x)` and
`assert not f(x)` ship the whole expression (there is no expected value); `assert f(x) == g(y)` compares two
program values and ships the comparison. HumanEval's `def check(candidate): assert candidate(...) == ...`
followed by `check(entry_point)` is the same, one level down: `candidate` names the entry point in the child.

Which names are the program's: every name that is not a builtin (unless the task's reference solution defines
it, see `own_builtins`), not a module of SAFE_MODULES, and not bound by the test itself to a value the parent
can compute. The decision depends on the tests and the reference only, never on the program being scored, so a
program cannot steer its own tests onto the weaker path.

Anything else (loops, try/except, assignments from program calls, an assert that needs a comprehension over a
program value in the parent, ...) cannot be split: that test runs in the child the old way ("in process") and
is counted, so users see how much of a task relies on the weaker path. Expressions the parent evaluates use a
fixed set of pure builtins and math functions on the decoded values (SAFE_BUILTINS, SAFE_MODULES); nothing the
program defined runs in the parent.
"""

import ast
import builtins
import copy
import functools
import itertools
import warnings
from dataclasses import dataclass

SAFE_BUILTIN_NAMES = (
    "abs", "all", "any", "bool", "bytes", "chr", "complex", "dict", "divmod", "enumerate", "float", "frozenset",
    "int", "isinstance", "len", "list", "max", "min", "ord", "range", "repr", "reversed", "round", "set", "sorted",
    "str", "sum", "tuple", "type", "zip", "hex", "bin", "oct", "bytearray", "slice", "object", "ValueError",
    "TypeError", "Exception", "True", "False", "None",
)
SAFE_BUILTINS = {name: getattr(builtins, name) for name in SAFE_BUILTIN_NAMES}
"""What the parent may call while computing a verdict: pure functions and types of the builtins."""

_MATH_UNSAFE = frozenset(("factorial", "comb", "perm", "pow", "ldexp", "lcm", "prod"))  # huge results from small ints


def _safe_module(name: str) -> dict:
    module = __import__(name)
    return {attr: getattr(module, attr) for attr in dir(module)
            if not attr.startswith("_") and attr not in _MATH_UNSAFE}


SAFE_MODULES = {"math": _safe_module("math"), "cmath": _safe_module("cmath")}
"""Modules whose attributes the parent may use in a verdict (math.isclose, math.fabs ...). Other imports in a
test are run in the child only, and the names they bind count as the program's."""

_PLACEHOLDER = "__value_"
_NOT_PLAIN = frozenset(("type",))
ON_VALUES = frozenset((
    "abs", "all", "any", "bool", "complex", "float", "int", "isinstance", "len", "list", "max", "min", "repr",
    "reversed", "round", "sorted", "str", "sum", "tuple", "type", "zip", "enumerate", "divmod", "chr", "ord",
))
"""Builtins the parent may apply to a value the program sent: cheap in the size of the value. Not range, bytes or
bytearray (a claimed 10**12 would make the parent build it), nor set, frozenset or dict (ints crafted to share
one hash would make building them quadratic); tests that need those run in process."""


class Unsplittable(Exception):
    """The test has a shape the parent cannot judge; it runs in the child."""


@dataclass(frozen=True)
class Unit:
    """One assert: the child evaluates `shipped` (expression sources); the parent evaluates `verdict`
    (an expression over __value_0, __value_1, ... and the test's own constants) and requires it truthy."""
    shipped: tuple
    verdict: str
    source: str


@dataclass(frozen=True)
class SplitTest:
    """A test cut into units. `child_preamble` is test code the child runs before evaluating the units
    (imports, helper definitions, inputs); `parent_preamble` binds the test's own constants in the parent;
    `candidate` is the program name that `candidate` stands for (HumanEval's check(entry_point)), or ""."""
    units: tuple
    child_preamble: str
    parent_preamble: tuple  # (name, expression source) pairs evaluated in order
    candidate: str


@dataclass(frozen=True)
class TestPlan:
    """How one test runs: split (verdict in the parent) or in process (verdict in the child, the old way)."""
    source: str
    split: SplitTest | None
    reason: str  # why it is not split ("" when split)

    @property
    def in_process(self) -> bool:
        return self.split is None


def _parse(source: str):
    with warnings.catch_warnings():  # e.g. "invalid escape sequence" in a task's reference: not ours to report
        warnings.simplefilter("ignore")
        return ast.parse(source)


def defined_names(source: str) -> frozenset:
    """Names a program binds at module level (def, class, import, assignment); empty when it does not parse."""
    try:
        tree = _parse(source)
    except (SyntaxError, ValueError):
        return frozenset()
    names = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names.update((alias.asname or alias.name).split(".")[0] for alias in node.names)
        elif isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                names.update(n.id for n in ast.walk(target) if isinstance(n, ast.Name))
    return frozenset(names)


@functools.lru_cache(maxsize=65536)
def own_builtins(reference: str) -> frozenset:
    """Builtin names the task's reference solution defines itself (MBPP 126 defines `sum`): the tests call the
    program's definition for these; every other builtin name resolves to the pristine builtin."""
    return frozenset(name for name in defined_names(reference) if hasattr(builtins, name))


class _Splitter:
    def __init__(self, trusted: dict):
        self.trusted = dict(trusted)  # name -> "call" (a function or module) or "data"
        self.helpers = set()  # names the test itself binds in the child (imports, helper functions)
        self.shipped = []

    def tainted(self, node) -> bool:
        """True if the subtree reads a name that lives in the child (the program's or a test helper's)."""
        bound = {n.id for n in ast.walk(node) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}
        return any(isinstance(n, ast.Name) and n.id not in self.trusted and n.id not in bound
                   for n in ast.walk(node))

    def program_call(self, node) -> bool:
        """A call into the program (`f(3)`, `candidate(x)`, `obj.method(1)`), not into a test helper."""
        if not isinstance(node, ast.Call) or not self.tainted(node.func):
            return False
        head = node.func
        while isinstance(head, (ast.Attribute, ast.Subscript, ast.Call)):
            head = head.value if not isinstance(head, ast.Call) else head.func
        return not (isinstance(head, ast.Name) and head.id in self.helpers)

    def function_reference(self, node) -> bool:
        """A trusted function or module (`sorted`, `math.isclose`): no test data in it."""
        if isinstance(node, ast.Name):
            return self.trusted.get(node.id) == "call"
        if isinstance(node, ast.Attribute):
            return self.function_reference(node.value)
        return False

    def leak_free(self, node) -> bool:
        """True if the subtree holds no test data other than the arguments of calls into the program."""
        if not self.tainted(node):
            return self.function_reference(node)
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in _NOT_PLAIN
                and self.trusted.get(node.func.id) == "call"):
            return False  # type(f(x)) is not plain data: ship f(x), apply type() here
        if self.program_call(node):
            return self.leak_free(node.func)  # the arguments are the program's inputs
        if isinstance(node, (ast.Lambda, ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)):
            return False
        return all(self.leak_free(child) for child in ast.iter_child_nodes(node)
                   if isinstance(child, (ast.expr, ast.keyword, ast.comprehension)))

    def split(self, node):
        """The verdict expression with each shipped subtree replaced by a placeholder name."""
        if not self.tainted(node):
            self.check_parent(node)
            return node
        if self.leak_free(node):
            placeholder = ast.Name(id=f"{_PLACEHOLDER}{len(self.shipped)}", ctx=ast.Load())
            self.shipped.append(ast.unparse(node))
            return placeholder
        if isinstance(node, ast.keyword):
            return ast.keyword(arg=node.arg, value=self.split(node.value))
        if not isinstance(node, _PARENT_NODES) or isinstance(node, ast.Name):
            raise Unsplittable(f"{type(node).__name__} over a program value")
        if isinstance(node, ast.BinOp) and not isinstance(node.op, _PARENT_BINOPS):
            raise Unsplittable(f"operator {type(node.op).__name__} over a program value")
        if isinstance(node, ast.Attribute) and node.attr.startswith("_"):
            raise Unsplittable("a private attribute of a program value")
        if isinstance(node, ast.Call) and not (
                self.function_reference(node.func)
                and (not isinstance(node.func, ast.Name) or node.func.id in ON_VALUES
                     or node.func.id not in SAFE_BUILTINS)):  # `from math import isclose`
            raise Unsplittable("a call the parent cannot make on a program value")
        fields = {}
        for field, value in ast.iter_fields(node):
            if isinstance(value, list):
                fields[field] = [self.split(v) if isinstance(v, (ast.expr, ast.keyword)) else v for v in value]
            elif isinstance(value, (ast.expr, ast.keyword)):
                fields[field] = self.split(value)
            else:
                fields[field] = value
        return type(node)(**fields)

    def check_parent(self, node) -> None:
        """Untainted code the parent will evaluate: pure nodes, trusted names, calls of trusted functions."""
        for sub in ast.walk(node):
            if isinstance(sub, ast.Call) and not self.function_reference(sub.func):
                raise Unsplittable("a call the parent cannot make")
            if isinstance(sub, ast.BinOp) and not isinstance(sub.op, _PARENT_BINOPS + (ast.Mult, ast.Pow, _MOD)):
                raise Unsplittable(f"operator {type(sub.op).__name__}")
            if isinstance(sub, ast.Attribute) and not (isinstance(sub.value, ast.Name)
                                                       and self.trusted.get(sub.value.id) == "call"):
                raise Unsplittable("attribute access in the parent")
            if not isinstance(sub, _PARENT_NODES + _PURE_EXTRA):
                raise Unsplittable(f"{type(sub).__name__} in the parent")


_PARENT_NODES = (ast.Compare, ast.BoolOp, ast.UnaryOp, ast.BinOp, ast.Call, ast.Constant, ast.List, ast.Tuple,
                 ast.Set, ast.Dict, ast.Subscript, ast.Slice, ast.Name, ast.Attribute, ast.keyword, ast.IfExp,
                 ast.expr_context, ast.boolop, ast.cmpop, ast.unaryop, ast.operator)
_PURE_EXTRA = (ast.ListComp, ast.SetComp, ast.GeneratorExp, ast.DictComp, ast.comprehension, ast.Starred)
_MOD = ast.Mod
# Operators the parent applies to a program value: no *, ** or << (a claimed 10**12 would make the parent build
# a huge object), no % (str formatting: "%999999999s" % 1); the test's own constants may use them.
_PARENT_BINOPS = (ast.Add, ast.Sub, ast.Div, ast.FloorDiv)


def _literal(node) -> bool:
    try:
        ast.literal_eval(node)
        return True
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return False


def _trusted_names(own: frozenset) -> dict:
    trusted = {name: "call" for name in SAFE_BUILTIN_NAMES if name not in own}
    trusted.update({name: "call" for name in SAFE_MODULES if name not in own})
    return trusted


def _plan_statements(body: list, splitter: _Splitter, top_level: bool):
    """(units, child statements, parent bindings) for a list of statements; raises Unsplittable."""
    units, child, parent = [], [], []
    for statement in body:
        if isinstance(statement, ast.Assert):
            splitter.shipped = []
            verdict = splitter.split(statement.test)
            units.append(Unit(tuple(splitter.shipped), ast.unparse(verdict), ast.unparse(statement)))
        elif isinstance(statement, (ast.Import, ast.ImportFrom)):
            child.append(statement)  # bound in the child; in the parent only the safe modules are known
            for alias in statement.names:
                name = (alias.asname or alias.name).split(".")[0]
                module = statement.module if isinstance(statement, ast.ImportFrom) else alias.name
                if isinstance(statement, ast.Import) and module in SAFE_MODULES and name == module:
                    splitter.trusted[name] = "call"
                elif (isinstance(statement, ast.ImportFrom) and module in SAFE_MODULES and not statement.level
                      and alias.name in SAFE_MODULES[module]):
                    splitter.trusted[name] = "call"
                    parent.append((name, f"{module}.{alias.name}"))
                else:
                    splitter.trusted.pop(name, None)
                    splitter.helpers.add(name)
        elif (isinstance(statement, ast.Assign) and len(statement.targets) == 1
              and isinstance(statement.targets[0], ast.Name) and not splitter.tainted(statement.value)):
            name = statement.targets[0].id
            try:
                splitter.check_parent(statement.value)
            except Unsplittable:
                if not top_level:
                    raise
                child.append(statement)
                splitter.trusted.pop(name, None)
                continue
            child.append(statement)
            parent.append((name, ast.unparse(statement.value)))
            splitter.trusted[name] = "data"
        elif isinstance(statement, ast.For):
            for body in _unrolled(statement, splitter):  # `for x in range(2, 8): assert f(x) == str(x)`
                more_units, more_child, more_parent = _plan_statements(body, splitter, top_level=False)
                units, child, parent = units + more_units, child + more_child, parent + more_parent
        elif isinstance(statement, ast.Expr) and isinstance(statement.value, (ast.Constant, ast.Name)):
            continue  # a docstring or a bare name: no effect
        elif isinstance(statement, ast.Pass):
            continue
        elif top_level and isinstance(statement, (ast.FunctionDef, ast.ClassDef)):
            child.append(statement)  # a helper of the test, run in the child
            splitter.trusted.pop(statement.name, None)
            splitter.helpers.add(statement.name)
        else:
            raise Unsplittable(f"{type(statement).__name__} statement")
    return units, child, parent


_MAX_UNROLLED = 1000


def _unrolled(loop: ast.For, splitter: _Splitter) -> list:
    """The body of a loop over constants, once per value with the loop variable replaced by the value's literal;
    Unsplittable unless the iterable uses only safe builtins and constants and the values are literals."""
    if (loop.orelse or not isinstance(loop.target, ast.Name) or splitter.tainted(loop.iter)
            or any(isinstance(n, (ast.Break, ast.Continue)) for s in loop.body for n in ast.walk(s))):
        raise Unsplittable("For statement")
    if any(isinstance(n, ast.Name) and n.id not in SAFE_BUILTINS for n in ast.walk(loop.iter)):
        raise Unsplittable("For statement over a name")
    splitter.check_parent(loop.iter)
    try:
        iterable = eval(compile(ast.Expression(loop.iter), "<loop>", "eval"), {"__builtins__": {}, **SAFE_BUILTINS})
        values = list(itertools.islice(iterable, _MAX_UNROLLED + 1))
    except Exception as error:
        raise Unsplittable(f"For statement: {type(error).__name__}") from None
    if len(values) > _MAX_UNROLLED:
        raise Unsplittable("For statement over too many values")
    name, bodies = loop.target.id, []
    for value in values:
        literal = ast.parse(repr(value), mode="eval").body
        if type(ast.literal_eval(literal)) is not type(value) or ast.literal_eval(literal) != value:
            raise Unsplittable("For statement over a value without a literal")
        body = [_Substitute(name, literal).visit(copy.deepcopy(s)) for s in loop.body]
        bodies.append([ast.fix_missing_locations(s) for s in body])
    return bodies


class _Substitute(ast.NodeTransformer):
    def __init__(self, name: str, literal):
        self.name, self.literal = name, literal

    def visit_Name(self, node):
        if node.id != self.name:
            return node
        if not isinstance(node.ctx, ast.Load):
            raise Unsplittable("the loop variable is rebound")
        return copy.deepcopy(self.literal)


def _prune_child(child: list, units: list, parent: list) -> str:
    """Child preamble: imports and definitions, plus only those constant bindings the shipped code reads (an
    expected value bound to a name never enters the child)."""
    needed = set()
    for unit in units:
        for source in unit.shipped:
            needed.update(n.id for n in ast.walk(ast.parse(source, mode="eval")) if isinstance(n, ast.Name))
    constants = {name for name, _ in parent}
    kept = []
    for statement in reversed(child):
        if isinstance(statement, ast.Assign) and statement.targets[0].id in constants:
            if statement.targets[0].id not in needed:
                continue
        kept.append(statement)
        needed.update(n.id for n in ast.walk(statement) if isinstance(n, ast.Name))
    return "\n".join(ast.unparse(s) for s in reversed(kept))


@functools.lru_cache(maxsize=65536)
def plan_test(source: str, own: frozenset = frozenset()) -> TestPlan:
    """Decide how `source` (one test: asserts, or a HumanEval `def check(candidate)` + `check(name)`) runs."""
    try:
        tree = _parse(source)
    except (SyntaxError, ValueError) as error:
        return TestPlan(source, None, f"does not parse: {error}")
    splitter = _Splitter(_trusted_names(own))
    body = list(tree.body)
    candidate = ""
    try:
        check = _check_function(body)
        if check is not None:
            function, candidate = check
            body = [s for s in body if s is not function and not _is_check_call(s)]
            units, child, parent = _plan_statements(body, splitter, top_level=True)
            if units:
                raise Unsplittable("asserts outside check()")
            argument = function.args.args[0].arg
            splitter.trusted.pop(argument, None)
            check_units, check_child, check_parent = _plan_statements(function.body, splitter, top_level=False)
            units, child, parent = check_units, child + check_child, parent + check_parent
            if argument != "candidate":
                child.append(ast.parse(f"{argument} = candidate").body[0])
        else:
            units, child, parent = _plan_statements(body, splitter, top_level=True)
        if not units:
            raise Unsplittable("no assert")
    except Unsplittable as why:
        return TestPlan(source, None, str(why))
    except (RecursionError, ValueError, TypeError, AttributeError) as error:  # e.g. a test nested too deeply
        return TestPlan(source, None, f"{type(error).__name__}: {error}")
    split = SplitTest(tuple(units), _prune_child(child, units, parent), tuple(parent), candidate)
    return TestPlan(source, split, "")


def _is_check_call(statement) -> bool:
    return (isinstance(statement, ast.Expr) and isinstance(statement.value, ast.Call)
            and isinstance(statement.value.func, ast.Name) and statement.value.func.id == "check")


def _check_function(body: list):
    """(the check FunctionDef, the program name passed to it) for the HumanEval shape, else None."""
    calls = [s for s in body if _is_check_call(s)]
    functions = [s for s in body if isinstance(s, ast.FunctionDef) and s.name == "check"]
    if not calls and not functions:
        return None
    if len(calls) != 1 or len(functions) != 1 or calls[0] is not body[-1]:
        raise Unsplittable("check() shape")
    call, function = calls[0].value, functions[0]
    if (len(call.args) != 1 or call.keywords or not isinstance(call.args[0], ast.Name)
            or len(function.args.args) != 1 or function.args.vararg or function.args.kwarg
            or function.decorator_list):
        raise Unsplittable("check() shape")
    return function, call.args[0].id


def parent_namespace(split: SplitTest, own: frozenset = frozenset()) -> dict:
    """The names a verdict may read in the parent: safe builtins and modules, and the test's own constants."""
    namespace = {name: value for name, value in SAFE_BUILTINS.items() if name not in own}
    namespace.update({name: _ModuleView(attrs) for name, attrs in SAFE_MODULES.items() if name not in own})
    namespace["__builtins__"] = {}
    for name, source in split.parent_preamble:
        namespace[name] = eval(compiled_verdict(source), namespace)
    return namespace


class _ModuleView:
    """A module's safe attributes only (math without factorial ...)."""
    def __init__(self, attrs: dict):
        self.__dict__.update(attrs)


@functools.lru_cache(maxsize=16384)
def compiled_verdict(verdict: str):
    return compile(verdict, "<verdict>", "eval")
