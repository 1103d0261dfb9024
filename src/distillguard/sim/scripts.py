"""Agent trajectories, system prompts and tool sets for agentic personas and campaigns.

An agent request carries the user's task plus the latest steps of the trajectory (assistant
tool calls and tool results); steps come from fixed scripts so that the message history of
step ``k`` is the script prefix, built once per (script, step) and reused by every row.
"""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa

from .text import esc

AGENT_SYSTEMS: tuple[str, ...] = (
    "You are an interactive CLI coding agent. You help users with software engineering tasks. Use the available tools to read, search and edit files and to run commands. Keep responses concise. Never guess file contents; read them first. After editing, run the tests.",
    "You are Forge, an autonomous software engineer working inside the user's repository. You can call tools to inspect the codebase, apply patches and execute shell commands. Think about the plan, then act step by step. Report what you changed.",
    "You are a senior developer pair-programming with the user in their IDE. Use tools to navigate the project, make minimal, well-tested changes and explain them briefly.",
    "You are a coding assistant operating in a sandboxed Linux environment with Python 3.11 and Node 20. Use the tools provided. Prefer small diffs. Always run the test suite before finishing.",
)
APP_SYSTEMS: tuple[str, ...] = (
    "You are Lumi, the friendly shopping assistant of ShopCo. Help customers find products, answer questions about orders and returns, and keep answers short and upbeat. Never invent order details.",
    "You are StudyBuddy, a patient tutor inside a homework-help app for high-school students. Explain concepts clearly, ask guiding questions and encourage the student.",
    "You are the in-app writing assistant of NoteNest. Help users draft, summarise and rewrite their notes. Match the user's language.",
    "You are a helpful assistant embedded in a travel-booking app. Help users plan trips, compare options and understand booking policies.",
    "You are Ask Ada, a general-purpose assistant in a messaging app. Be helpful, safe and concise.",
)
DEV_SYSTEMS: tuple[str, ...] = (
    "You are a helpful coding assistant.",
    "You are an expert Python developer. Answer with code first, then a short explanation.",
    "You are a senior engineer. Be precise and concise.",
    "You are a helpful assistant.",
)
HARVEST_SYSTEMS: tuple[str, ...] = (
    "You are an expert problem solver. Always explain your reasoning thoroughly before answering.",
    "You are a world-class tutor. Give complete, detailed, step-by-step solutions.",
    "You are a helpful assistant.",
)
ENTERPRISE_TEMPLATES: tuple[str, ...] = (
    "Summarize the following customer support ticket in 3 bullet points and classify its urgency as low, medium or high. Respond in JSON with keys summary and urgency.\n\nTicket:\n{task}",
    "Extract the key entities (people, organisations, products, dates) from the document below and return them as a JSON object with one list per entity type.\n\nDocument:\n{task}",
    "You are reviewing internal knowledge-base articles. Rate the article below for clarity (1-5) and list up to three concrete improvements. Output JSON.\n\nArticle:\n{task}",
    "Translate the following text into German, keeping the formatting. Output only the translation.\n\n{task}",
)
ENTERPRISE_SYSTEMS: tuple[str, ...] = (
    "You are a document-processing service. Output valid JSON only.",
    "You are an assistant for the operations team of a logistics company.",
)

TOOLSETS: tuple[tuple[str, ...], ...] = (
    ("bash", "read_file", "write_file", "edit_file", "grep", "glob"),
    ("bash", "str_replace_editor", "view_file", "run_tests"),
    ("shell", "read", "write", "search", "web_fetch"),
    (
        "execute_command",
        "read_file",
        "write_to_file",
        "replace_in_file",
        "list_files",
        "search_files",
    ),
    ("get_weather",),
    ("search_web", "fetch_url"),
    ("lookup_order", "create_ticket"),
    ("sql_query",),
    ("calculator",),
    ("get_stock_price", "get_news"),
)
TOOLSETS_JSON = pa.array([json.dumps(list(t)) for t in TOOLSETS], pa.string())
AGENT_TOOLSETS = np.array([0, 1, 2, 3])
APP_TOOLSETS = np.array([4, 5, 6, 7, 8, 9])

_ACTIONS = (
    (
        "Let me look at the project structure first.",
        "glob",
        "src/\n  app/__init__.py\n  app/main.py\n  app/utils.py\ntests/\n  test_main.py\npyproject.toml\nREADME.md",
    ),
    ("I'll read the main module.", "read_file", None),
    (
        "Searching for where this function is used.",
        "grep",
        "app/main.py:42:    result = parse_input(raw)\napp/utils.py:10:def parse_input(raw: str) -> dict:\ntests/test_main.py:7:    assert parse_input('a=1') == {'a': '1'}",
    ),
    ("Now I'll apply the change.", "edit_file", "Applied 1 edit to app/utils.py (+12 -3)."),
    (
        "Running the test suite.",
        "bash",
        "============ test session starts ============\ncollected 14 items\n\ntests/test_main.py ......F.......\n\nFAILED tests/test_main.py::test_empty - AssertionError: assert {} == None\n======= 1 failed, 13 passed in 0.61s =======",
    ),
    (
        "The empty-input case fails; fixing it.",
        "edit_file",
        "Applied 1 edit to app/utils.py (+2 -1).",
    ),
    ("Re-running the tests.", "bash", "============ 14 passed in 0.58s ============"),
    ("Let me check the types.", "bash", "Success: no issues found in 6 source files"),
    ("I'll write the new file.", "write_file", "Wrote 1 file: app/feature.py (58 lines)."),
    ("Checking git status.", "bash", " M app/utils.py\n?? app/feature.py"),
)


def build_scripts(
    code_answers: pa.Array, n_scripts: int = 16, n_steps: int = 40, window: int = 6
) -> pa.Array:
    """Escaped message JSON for (script, step): the last ``window`` steps before ``step``.

    Index ``script * n_steps + step``; step 0 is empty (the first request has only the task).
    """
    rng = np.random.default_rng(1234)
    answers = code_answers.to_pylist()
    out: list[str] = []
    for _s in range(n_scripts):
        steps = []
        for _k in range(n_steps):
            say, tool, result = _ACTIONS[int(rng.integers(len(_ACTIONS)))]
            if result is None:
                raw = (
                    json.loads('"' + answers[int(rng.integers(len(answers)))] + '"')
                    if answers
                    else "def main():\n    pass"
                )
                result = esc(raw[:600])
            else:
                result = esc(result)
            call = esc(f"{say}\n[tool call: {tool}]")
            steps.append(
                '{"role":"assistant","content":"'
                + call
                + '"},{"role":"tool","content":"'
                + result
                + '"}'
            )
        for k in range(n_steps):
            lo = max(0, k - window)
            out.append(("," + ",".join(steps[lo:k])) if k else "")
    return pa.array(out, pa.string())
