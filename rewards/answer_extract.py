"""The final answer of a piece of text (an `<answer>` body, a whole completion, or a gold written as a solution).

`final_answer(text)` takes the first of these that exists:
1. the last `\\boxed{}` / `\\fbox{}`, joined with the boxes before it that only a short connector separates
   (`\\boxed{(2, 2)} \\quad\\text{and}\\quad \\boxed{(6, 2)}` -> `(2, 2), (6, 2)`) -- unless a "final answer is"
   phrase comes after the last box (then the box was a step);
2. several math spans with only "and" / "or" / commas around them, joined (`$1$ and $2$` -> `1, 2`);
3. the text after the last "answer is" / "answer:" phrase (8 languages), unless a math span starts after it:
   a span or number it starts with, an "is <number>" in it, else the number that closes it;
4. the last math span `$...$`, `$$...$$`, `\\(...\\)`, `\\[...\\]` (an escaped `\\$` is a dollar sign, never a
   delimiter; a "span" that is prose is two currency dollars), or a plain "is <number>" after it;
5. in prose, the number closing the last sentence that has one (`... which is 1,000.99€`, `总共有99颗弹珠。`) or a
   list after a verb (`the solutions are x = 2 and x = 3`); negated numbers (`not 10`) never count;
6. the whole text.
Markdown bold, a GSM8K `####` line and chat-template debris (`<|im_start|>user ...`) are handled first.
"""

import re

_BOX_COMMANDS = ("\\boxed", "\\fbox")
_CHAT_DEBRIS = re.compile(r"<\|(?:im_start|im_end|endoftext|eot_id|end_of_text)\|>")
# words and LaTeX that may stand between two boxes that together form one answer
_CONNECTOR_TOKENS = re.compile(r"\\(?:quad|qquad|text|textbf|mathrm|hspace|;|,|:|!)|\\[()\[\]]|[${}(),;:.&\\]|\s+")
_MAX_CONNECTOR_WORDS = 6
_ANSWER_PHRASE = re.compile(r"(?:final\s+answer|answer|réponse|respuesta|antwort|risposta|resposta|ответ|答案|答|"
                            r"الإجابة|उत्तर)\s*(?:is|est|es|ist|è|é|是|为|為|:|：|=|\*\*:?)\s*(?:\*\*)?\s*(?:the\s+final\s+answer\s+is\s*)?",
                            re.IGNORECASE)
# a number: thousands groups `1,000`, a decimal comma that cannot be a group `2,74`, a fraction `2/3`, a percent
_NUMBER_TEXT = r"-?\$?(?:\d{1,3}(?:,\d{3})+(?!\d)|\d+,\d{1,2}(?![\d,])|\d+)(?:\.\d+)?(?:/\d+)?%?"
_NOT_ALONE = r"(?!\s*(?:,|;|\bor\b|\band\b|/)\s*[-$\d])"  # `9 or 8`, `9, 8`: a list (or a hedge), not one number
_IS_NUMBER = re.compile(r"\bis\s+(" + _NUMBER_TEXT + r")(?![\d,_]|\.\d|[a-zA-Z]|\s*[-+*/^=(\\])" + _NOT_ALONE)
# a number closing a sentence, with at most two words (a unit, "ago") after it: `... which is 1,000.99€`
_CLOSING_NUMBER = re.compile(r"(?<![0-9A-Za-z.^_/\\])(" + _NUMBER_TEXT + r")\s*(?:[€£¥$]|[^\s\d.!?。！？।]+(?:\s+[^\s\d.!?。！？।]+)?)?\s*"
                             r"(?:\.(?!\d)|\.\.|[!。！？؟।]|$)")
# prose: three words in a row, or a run of four letters of a script without spaces between words (Chinese)
_PROSE = re.compile(r"(?:(?<![\\\w{])[^\W\d_]{2,}(?![\w{]).*?){3}|[^\W\d_a-zA-Z]{4,}", re.DOTALL)
_SPAN_CONNECTORS = re.compile(r"\b(?:and|or|also|und|oder|et|ou|y|o)\b|[和或及]|[,;.:]|\\q?quad|\\text\{\s*(?:and|or)\s*\}|\s+")
_LEADING_NUMBER = re.compile(r"(" + _NUMBER_TEXT + r")(?![\d,_]|\.\d|[a-zA-Z(]|\s*[-+*/^=\\]|\s+[a-zA-Z](?![a-zA-Z]))"
                             + _NOT_ALONE)  # `3 n` is a product, `3 cm` a number and its unit
_STANDALONE_NUMBER = re.compile(r"(?<![0-9A-Za-z.^_/\\])(" + _NUMBER_TEXT + r")(?![0-9/^_])")
_LATEX_TOKEN = re.compile(r"(?<![^\s(（])\(?([^\s()（）\u3000-\u9fff]*\\[a-zA-Z]+\{[^\s\u3000-\u9fff]*?)\)?(?=[\s)）]|$)")
_MARKDOWN_BOLD = re.compile(r"(?<![\w)])\*\*|\*\*(?![\w(])")
_SENTENCE_END = re.compile(r"\.(?:\s|$)(?!\d)|[。！？!?؟।]|\n|\bI hope\b")


def strip_chat_debris(text: str) -> str:
    """Text before the first chat-template token (`<|im_start|>`, `<|im_end|>`, ...)."""
    match = _CHAT_DEBRIS.search(text)
    return text[:match.start()] if match else text


def _brace_end(text: str, open_index: int) -> int | None:
    """Index just past the `}` matching the `{` at open_index, or None when unbalanced."""
    depth = 0
    for position in range(open_index, len(text)):
        character = text[position]
        if character == "\\":
            continue
        if character == "{" and (position == 0 or text[position - 1] != "\\"):
            depth += 1
        elif character == "}" and (position == 0 or text[position - 1] != "\\"):
            depth -= 1
            if depth == 0:
                return position + 1
    return None


def boxes(text: str) -> list[tuple[int, int, str]]:
    """Every complete top-level `\\boxed{...}` / `\\fbox{...}` as (start, end, content), in order; `\\boxed 5` too."""
    found = []
    index = 0
    while True:
        starts = [(text.find(command, index), command) for command in _BOX_COMMANDS]
        starts = [(position, command) for position, command in starts if position >= 0]
        if not starts:
            return found
        start, command = min(starts)
        cursor = start + len(command)
        while cursor < len(text) and text[cursor] == " ":
            cursor += 1
        if cursor < len(text) and text[cursor] == "{":
            end = _brace_end(text, cursor)
            if end is None:  # truncated: nothing after it can be a complete box either
                return found
            found.append((start, end, text[cursor + 1:end - 1]))
            index = end
        else:
            match = re.match(r"[^\s${}\\]+", text[cursor:])  # `\boxed 5`
            if match:
                found.append((start, cursor + match.end(), match.group(0)))
            index = cursor + (match.end() if match else 0) + 1


def last_boxed(text: str) -> str | None:
    """Content of the last complete `\\boxed{...}` (brace-matched) or `\\fbox{...}`, or None."""
    found = boxes(text)
    return found[-1][2] if found else None


def _connects(between: str) -> bool:
    """Whether the text between two boxes is only a short connector ("and", `\\quad`, ", ", `y_2 =`), not a
    correction (`\\boxed{5}. Wait, actually \\boxed{6}`: the last box is the answer)."""
    if _CORRECTION.search(between):
        return False
    words = [word for word in _CONNECTOR_TOKENS.sub(" ", between).split() if word]
    return len(words) <= _MAX_CONNECTOR_WORDS


_CORRECTION = re.compile(r"\b(?:wait|actually|instead|correct(?:ion|ed)?|hmm+|sorry|mistake|oops|recheck|but|no)\b",
                         re.IGNORECASE)


def boxed_answer(text: str) -> str | None:
    """The last box joined with the boxes before it that a short connector links to it, as "a, b, c"."""
    found = boxes(text)
    if not found:
        return None
    chosen = [found[-1]]
    for previous in reversed(found[:-1]):
        if not _connects(text[previous[1]:chosen[0][0]]):
            break
        chosen.insert(0, previous)
    contents = [content.strip() for _, _, content in chosen if content.strip()]
    if not contents:
        return None
    return ", ".join(contents)


def math_spans(text: str) -> list[tuple[int, int, str]]:
    """Complete math spans as (start, end, inner text), in order: `$$..$$`, `$..$`, `\\[..\\]`, `\\(..\\)`.

    An escaped dollar `\\$` is a currency sign inside or outside a span, never a delimiter."""
    spans = []
    index = 0
    length = len(text)
    while index < length:
        if text.startswith("\\(", index) or text.startswith("\\[", index):
            closer = "\\)" if text[index + 1] == "(" else "\\]"
            end = text.find(closer, index + 2)
            if end < 0:
                index += 2
                continue
            spans.append((index, end + 2, text[index + 2:end]))
            index = end + 2
        elif text[index] == "\\":
            index += 2  # an escaped character, `\$` included
        elif text[index] == "$":
            double = text.startswith("$$", index)
            delimiter = "$$" if double else "$"
            cursor = index + len(delimiter)
            end = None
            while cursor < length:
                if text[cursor] == "\\":
                    cursor += 2
                    continue
                if text.startswith(delimiter, cursor):
                    end = cursor
                    break
                cursor += 1
            if end is None:
                index += len(delimiter)
                continue
            spans.append((index, end + len(delimiter), text[index + len(delimiter):end]))
            index = end + len(delimiter)
        else:
            index += 1
    return spans


def phrase_answer(text: str) -> tuple[int, int, str, bool] | None:
    """(start, end, text, says "final answer") of what follows the last "answer is" / "answer:" phrase, up to
    its sentence's end."""
    matches = list(_ANSWER_PHRASE.finditer(text))
    if not matches:
        return None
    last = matches[-1]
    rest = text[last.end():]
    end = _sentence_end(rest)
    answer = rest[:end] if end is not None else rest
    cleaned = answer.strip().strip("*").strip()
    strong = "final" in last.group(0).lower()
    return (last.start(), last.end() + len(answer), cleaned, strong) if cleaned else None


def _sentence_end(text: str) -> int | None:
    """Where the first sentence of `text` ends: a full stop, `!`, `?` (or their CJK forms) or a newline outside
    math spans and braces; `\\!` and a factorial `100!` are not ends."""
    spans = math_spans(text)
    for match in _SENTENCE_END.finditer(text):
        position = match.start()
        if any(start <= position < end for start, end, _ in spans):
            continue
        if text[position] == "!" and (text[position - 1:position] == "\\" or text[position + 1:position + 2] not in ("", " ", "\n")):
            continue
        if text[:position].count("{") > text[:position].count("}"):
            continue
        return position
    return None


def _phrase_value(answer: str, read_prose: bool = True) -> str:
    """The answer a phrase gives: a math span it starts with, a number it starts with (`7.78`, `-3`), an
    "is <number>" in it (`The largest $n$ is 34`), the number closing it, else its text."""
    stripped = re.sub(r'^(?:\\?["\'])+|(?:\\?["\'])+$', "", answer.strip()).strip()
    joined = _joined_spans(stripped)
    if joined is not None:
        return joined
    spans = math_spans(stripped)
    if spans and spans[0][0] == 0 and spans[0][2].strip():
        return spans[0][2].strip()
    leading = _LEADING_NUMBER.match(stripped)
    if leading:
        return leading.group(1)
    numbers = _affirmed(_IS_NUMBER, stripped)
    if numbers:
        return numbers[-1]
    if not read_prose:
        return stripped
    if _PROSE.search(stripped):
        latex = _LATEX_TOKEN.findall(stripped)  # "每份应该是 (\\frac{2}{5}) 吨": the one LaTeX expression
        if len(latex) == 1:
            return latex[0]
        # "Janeth aura encore 220 $ à payer d'ici 12 mois": the first number
        numbers = _affirmed(_STANDALONE_NUMBER, stripped)
        if numbers and not re.search(r"[\\^*/=+]", stripped):
            return numbers[0]
    return _closing_number(stripped) or stripped


def _unwrap_single_span(answer: str) -> str:
    """`$28\\%$.` -> `28\\%`: an answer that is one math span (and punctuation) is that span's inside."""
    stripped = answer.strip().rstrip(".,;").strip()
    spans = math_spans(stripped)
    if len(spans) == 1 and spans[0][0] == 0 and spans[0][1] == len(stripped):
        return spans[0][2].strip()
    return stripped


def final_answer(text: str, read_prose: bool = True) -> str | None:
    """The final answer of `text` (see the module docstring), stripped; None for blank text. With
    `read_prose=False` (for golds, which are answers already) prose is never reduced to a number in it."""
    closing = _closing_number if read_prose else (lambda _text: None)
    text = _MARKDOWN_BOLD.sub("", strip_chat_debris(text))
    if not text.strip():
        return None
    if "####" in text:  # the GSM8K answer line
        text = text.rsplit("####", 1)[1]
        if not text.strip():
            return None
    boxed = boxed_answer(text)
    phrase = phrase_answer(text)
    if boxed is not None:
        if phrase is not None and phrase[3] and phrase[0] > boxes(text)[-1][1]:
            return _phrase_value(phrase[2], read_prose)  # `\boxed{255}` of a step, then "The final answer is $10,455$"
        return boxed
    spans = [span for span in math_spans(text) if span[2].strip() and not _PROSE.search(span[2])]
    joined = _joined_spans(text, spans)
    if joined is not None:
        return joined
    last_span = spans[-1] if spans else None
    if phrase is not None and (phrase[3] or last_span is None or last_span[0] < phrase[1]):
        return _phrase_value(phrase[2], read_prose)
    if last_span is not None:
        after = _affirmed(_IS_NUMBER, text[last_span[1]:])
        if after:
            return after[-1]
        inside = last_span[2].strip()
        words = re.findall(r"(?<![\\A-Za-z])[A-Za-z]{2,}(?![A-Za-z{])", inside)
        if len(words) > 1:  # `$? just about 1$`: words and a number inside the span
            inside = closing(inside) or inside
        return closing(text[last_span[1]:]) or inside
    return closing(text) or text.strip()


def _closing_number(text: str) -> str | None:
    """In prose (three words in a row), the number that closes its last sentence, or the one number of the
    last sentence that has one (`Therefore, there are 12 distinct sequences.`); in a short text of words with
    one number and no operators (`Soucis : 2,74 $ a..`), that number. None otherwise."""
    sentence_list = _LIST_AFTER_VERB.search(text.strip().rstrip("."))
    if sentence_list:  # "The solutions are x = 2 and x = 3", "$x$ is 9 or 8"
        return sentence_list.group(1)
    if not _PROSE.search(text):
        if re.search(r"[\\^*/=+]|\d\s*-\s*\d|[A-Za-z]\s*\(", text):  # an expression or `sqrt(2)`
            return None
        if re.search(r"\b(?:not|no|never|isn't|nicht|pas)\b|n't\b|不是", text, re.IGNORECASE):
            return None  # `not -2, -2`: a short negated answer states nothing
        numbers = _affirmed(_STANDALONE_NUMBER, text)
        return numbers[0] if len(numbers) == 1 and re.search(r"[^\W\d_]{2,}", text) else None
    sentences = [s for s in re.split(r"(?<!\d)\.(?!\d)|[。！？!?؟।\n]", text) if s.strip() and not _HOPE.search(s)]
    for sentence in reversed(sentences):
        numbers = _affirmed(_STANDALONE_NUMBER, sentence)
        if numbers:
            if len(numbers) == 1:
                return numbers[0]
            if re.search(r"\b(?:maybe|perhaps|possibly|could|might|either|or)\b", sentence, re.IGNORECASE):
                return None  # "it's 5 but it could be 6": a hedge between numbers is no answer
            closing = _affirmed(_CLOSING_NUMBER, sentence.rstrip() + ".")
            return closing[-1] if closing else None
    return None


_NEGATION = re.compile(r"(?:\bnot|n't|\bnever|\bno|\bnicht|\bpas|\bnon|不是|不)\s*(?:\w+\s+)?$", re.IGNORECASE)


def _affirmed(pattern, text: str) -> list[str]:
    """pattern's first group at each match that is not negated just before (`not 10`, `isn't 5`, `不是 3`)."""
    return [match.group(1) for match in pattern.finditer(text)
            if not _NEGATION.search(text[max(0, match.start() - 20):match.start()])]


_VALUE = r"(?:[a-z]\s*=\s*)?-?\d[\d,]*(?:\.\d+)?(?:/\d+)?(?:_\{?\d+\}?)?"
_LIST_AFTER_VERB = re.compile(r"\b(?:are|is|be|were)\s+(" + _VALUE + r"(?:\s*(?:,\s*and|,\s*or|,|and|or)\s*" + _VALUE + r")+)$")
_HOPE = re.compile(r"\bI hope\b|\bhope it is correct\b", re.IGNORECASE)


def _joined_spans(text: str, spans: list | None = None) -> str | None:
    """`$1$ and $2$ and $3$` -> `1, 2, 3`: several math spans with only a short connector around them."""
    if spans is None:
        spans = [span for span in math_spans(text) if span[2].strip()]
    if len(spans) > 1 and not _SPAN_CONNECTORS.sub("", _outside(text, spans)).strip():
        return ", ".join(span[2].strip() for span in spans)
    return None


def _outside(text: str, spans: list) -> str:
    """The text outside the given spans."""
    pieces, cursor = [], 0
    for start, end, _ in spans:
        pieces.append(text[cursor:start])
        cursor = end
    pieces.append(text[cursor:])
    return " ".join(pieces)
