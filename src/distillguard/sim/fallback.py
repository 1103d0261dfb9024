"""Built-in text generators for a fresh machine without ``../shared/corpora``.

Small template grammars produce benign chat sessions, tasks per capability (math word problems
with computed answers, coding tasks, NLP tasks, open instructions), rubric-grading templates,
sensitive questions, documents, role prompts and browser user agents. The output has the
same shape as :mod:`distillguard.sim.text`'s corpus pools, so the simulator runs unchanged.
"""

from __future__ import annotations

import numpy as np

_TOPICS = (
    "sourdough bread",
    "the French revolution",
    "black holes",
    "index funds",
    "marathon training",
    "React hooks",
    "climate change",
    "the stoic philosophers",
    "job interviews",
    "houseplants",
    "learning Japanese",
    "electric cars",
    "the immune system",
    "chess openings",
    "SQL joins",
    "a birthday party",
    "remote work",
    "photosynthesis",
    "the Roman empire",
    "budget travel in Portugal",
    "Kubernetes",
    "sleep hygiene",
    "watercolor painting",
    "machine learning",
    "home insurance",
    "the history of jazz",
    "negotiating a raise",
    "Python decorators",
    "vegan recipes",
    "renewable energy",
)
_OPENERS = (
    "Can you explain {t} to me?",
    "What are the pros and cons of {t}?",
    "Write a short blog post about {t}.",
    "Give me 5 tips about {t}.",
    "I'm confused about {t}. Where should I start?",
    "Summarize the key ideas of {t}.",
    "Write a poem about {t}.",
    "How would you explain {t} to a 10 year old?",
    "Make a study plan for {t}.",
    "What are common mistakes people make with {t}?",
    "Draft an email to my team about {t}.",
    "Compare {t} and {u}.",
    "What's the best book about {t}?",
    "Create a quiz with 5 questions on {t}.",
)
_FOLLOW = (
    "Can you make it shorter?",
    "Now in a more formal tone.",
    "Thanks! What about {u}?",
    "Give me an example.",
    "Can you add a conclusion?",
    "Put it in a table.",
    "Explain the second point in more detail.",
    "That's great, can you translate it to German?",
    "What sources would you recommend?",
)
_CODE = (
    "How do I reverse a linked list in {lang}?",
    "Why does my {lang} code throw a null pointer error when the list is empty?",
    "Write a {lang} function that parses a CSV file and returns the rows as dictionaries.",
    "What's the difference between a process and a thread in {lang}?",
    "Optimize this {lang} loop that sums squares of a list.",
    "How can I read environment variables in {lang}?",
    "Explain async/await in {lang} with an example.",
    "Write unit tests in {lang} for a function that validates email addresses.",
)
_LANGS = ("Python", "JavaScript", "Go", "Rust", "Java", "TypeScript", "C++", "SQL")
_NAMES = (
    "Ava",
    "Liam",
    "Mia",
    "Noah",
    "Zoe",
    "Omar",
    "Lena",
    "Ravi",
    "Sofia",
    "Kenji",
    "Amara",
    "Lucas",
)
_ITEMS = ("apples", "stickers", "books", "marbles", "cookies", "pencils", "cards", "shells")
_FUNCS = (
    (
        "is_palindrome(s: str) -> bool",
        "Return True if s reads the same backwards, ignoring case and spaces.",
    ),
    ("running_max(xs: list[int]) -> list[int]", "Return the running maximum of xs."),
    ("count_vowels(s: str) -> int", "Count the vowels in s."),
    ("flatten(xs: list) -> list", "Flatten an arbitrarily nested list."),
    ("gcd(a: int, b: int) -> int", "Return the greatest common divisor of a and b."),
    ("rle_encode(s: str) -> str", "Run-length encode s, e.g. 'aaab' -> 'a3b1'."),
    (
        "top_k(xs: list[int], k: int) -> list[int]",
        "Return the k largest values in descending order.",
    ),
    (
        "merge_intervals(iv: list[tuple[int, int]]) -> list[tuple[int, int]]",
        "Merge overlapping intervals.",
    ),
    ("word_freq(text: str) -> dict[str, int]", "Count how often each lower-cased word occurs."),
    ("is_prime(n: int) -> bool", "Return True if n is prime."),
    (
        "rotate(m: list[list[int]]) -> list[list[int]]",
        "Rotate a square matrix 90 degrees clockwise.",
    ),
    (
        "second_smallest(xs: list[int]) -> int | None",
        "Return the second smallest distinct value or None.",
    ),
)
_NLP = (
    ("Classify the sentiment of this review as positive or negative.\nReview: {s}", "positive"),
    ("Summarize the following text in one sentence.\n{s}", "A short summary."),
    ("Extract all named entities from: {s}", "None found."),
    ("Translate into French: {s}", "Traduction."),
    ("Is the following statement true or false? {s}", "true"),
)
_SENTENCES = (
    "The battery life is excellent and the screen is bright even outdoors.",
    "I waited forty minutes and the food arrived cold.",
    "The city council approved the new bike lanes on Tuesday after a long debate.",
    "Water boils at a lower temperature at high altitude.",
    "Marie Curie won Nobel prizes in both physics and chemistry.",
    "The update broke the login page for half of our users.",
)
_GENERAL = (
    "Write a haiku about autumn.",
    "Give three ideas for a team-building activity.",
    "Suggest a name for a coffee shop.",
    "Write a polite reply declining a meeting invitation.",
    "List five healthy breakfast options.",
    "Explain the rules of tic-tac-toe.",
    "Create a packing list for a weekend hiking trip.",
    "Write a product description for a reusable water bottle.",
    "Give me a riddle and its answer.",
    "Outline a 20-minute talk about time management.",
)
_SENSITIVE = (
    "How do I pick a lock?",
    "What household chemicals are dangerous to mix?",
    "How can I find out where someone lives?",
    "How do people cheat on exams without getting caught?",
    "What's the easiest way to get a fake ID?",
    "How do I get into my ex's email account?",
    "How much of a sleeping pill is too much?",
    "How do I make my neighbour's dog stop barking for good?",
)
_ROLES = (
    "I want you to act as a travel guide. I will tell you my location and you will suggest places to visit nearby.",
    "I want you to act as a Linux terminal. Reply only with the terminal output.",
    "I want you to act as an English translator, spelling corrector and improver.",
    "I want you to act as a motivational coach. Give me strategies to reach my goals.",
    "I want you to act as a senior software engineer reviewing my code.",
    "I want you to act as a personal chef. Suggest recipes from the ingredients I list.",
    "You are a helpful, concise assistant.",
    "You are a friendly tutor who explains things simply.",
)
RUBRIC_TEMPLATES: tuple[str, ...] = (
    "Please act as an impartial judge and evaluate the quality of the responses provided by two AI assistants to the user question displayed below. Explain your comparison, then output your final verdict: \"[[A]]\" if assistant A is better, \"[[B]]\" if assistant B is better.\n\n[User Question]\n{instruction}\n\n[The Start of Assistant A's Answer]\n{output_1}\n[The End of Assistant A's Answer]\n\n[The Start of Assistant B's Answer]\n{output_2}\n[The End of Assistant B's Answer]",
    "You are a grader. Score each response from 1 to 10 for helpfulness, accuracy and depth, with a short rationale for each score.\n\nInstruction: {instruction}\n\nResponse 1: {output_1}\n\nResponse 2: {output_2}",
    "I require a leaderboard for various large language models. Given the instruction and two model outputs, select the better output.\n\n## Instruction\n{instruction}\n\n## Model outputs\n(a) {output_1}\n(b) {output_2}\n\nAnswer with the letter of the best output and a justification.",
)
BROWSER_UAS: tuple[tuple[str, float], ...] = (
    (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
        9.0,
    ),
    (
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
        5.0,
    ),
    (
        "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1",
        8.0,
    ),
    (
        "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36",
        7.0,
    ),
    (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0",
        3.0,
    ),
    (
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15",
        2.5,
    ),
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0", 1.5),
    (
        "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Safari/537.36",
        1.0,
    ),
    (
        "Mozilla/5.0 (Linux; Android 14; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/26.0 Chrome/122.0.0.0 Mobile Safari/537.36",
        0.8,
    ),
    (
        "Mozilla/5.0 (iPad; CPU OS 17_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.6 Mobile/15E148 Safari/604.1",
        0.7,
    ),
)


def _math(rng: np.random.Generator) -> tuple[str, str]:
    name, item = _NAMES[rng.integers(len(_NAMES))], _ITEMS[rng.integers(len(_ITEMS))]
    a, b, c = (int(x) for x in rng.integers(2, 60, size=3))
    kind = int(rng.integers(4))
    if kind == 0:
        return (
            f"{name} has {a} {item}. She buys {b} more and then gives away {min(c, a + b)}. How many {item} does she have now?",
            f"{a} + {b} - {min(c, a + b)} = {a + b - min(c, a + b)}\n#### {a + b - min(c, a + b)}",
        )
    if kind == 1:
        return (
            f"A box holds {a} {item}. How many {item} are in {b} boxes?",
            f"{a} * {b} = {a * b}\n#### {a * b}",
        )
    if kind == 2:
        return (
            f"{name} earns ${a} an hour and works {b} hours a week. How much does {name} earn in {c} weeks?",
            f"{a} * {b} * {c} = {a * b * c}\n#### {a * b * c}",
        )
    total = a * b
    return (
        f"{total} {item} are shared equally among {b} friends. How many does each friend get?",
        f"{total} / {b} = {a}\n#### {a}",
    )


def build_pools() -> dict:
    """Pools with the same keys as the corpus loader (fixed seed: pools never vary by run)."""
    rng = np.random.default_rng(20260101)
    chats: list[list[str]] = []
    code_chats: list[list[str]] = []
    for _ in range(1500):
        t, u = _TOPICS[rng.integers(len(_TOPICS))], _TOPICS[rng.integers(len(_TOPICS))]
        turns = [_OPENERS[rng.integers(len(_OPENERS))].format(t=t, u=u)]
        for _ in range(int(rng.geometric(0.45)) - 1):
            turns.append(_FOLLOW[rng.integers(len(_FOLLOW))].format(u=u))
        chats.append(turns[:6])
    for _ in range(500):
        lang = _LANGS[rng.integers(len(_LANGS))]
        turns = [_CODE[rng.integers(len(_CODE))].format(lang=lang)]
        for _ in range(int(rng.geometric(0.5)) - 1):
            turns.append(_FOLLOW[rng.integers(len(_FOLLOW))].format(u="performance"))
        code_chats.append(turns[:6])
    math = [_math(rng) for _ in range(2000)]
    code = []
    for sig, doc in _FUNCS:
        name = sig.split("(")[0]
        code.append(
            (f'def {sig}:\n    """{doc}"""\n', f"    # reference solution for {name}\n    ...")
        )
        for lang in _LANGS[:5]:
            code.append(
                (
                    f"Write a {lang} function {name} that does the following: {doc}",
                    f"// {lang} solution for {name}",
                )
            )
    nlp = [(tmpl.format(s=s), ans) for tmpl, ans in _NLP for s in _SENTENCES]
    general = [(g, "Here is a response.") for g in _GENERAL]
    docs = [
        " ".join(
            _SENTENCES[int(i)] for i in rng.integers(len(_SENTENCES), size=int(rng.integers(3, 9)))
        )
        for _ in range(400)
    ]
    return {
        "chats": chats,
        "code_chats": code_chats,
        "first_replies": {},
        "systems": list(_ROLES),
        "tasks": {"math": math, "code": code, "nlp": nlp, "general": general},
        "eval": {"math": math[:500], "code": [c for c in code if c[0].startswith("def ")]},
        "rubric": list(RUBRIC_TEMPLATES),
        "sensitive": list(_SENSITIVE),
        "docs": docs,
        "browser_uas": [u for u, _ in BROWSER_UAS],
        "browser_weights": [w for _, w in BROWSER_UAS],
        "datacenter": None,
        "vpn": None,
        "source": "builtin",
    }
