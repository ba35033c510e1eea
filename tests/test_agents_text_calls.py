"""Tool calls written in the message text (drevalkit.agents.protocols.text_calls), without servers: every form read,
code and prose mentions left alone, unreadable calls refused, and ``openai-tools`` running them as native calls or
ending the task with the server flags that turn native calls on."""

import json

import pytest

from drevalkit.agents.endpoint import RawToolCall, Reply
from drevalkit.agents.protocols.openai_tools import OpenAIToolsProtocol
from drevalkit.agents.protocols.text_calls import MAX_CALLS, NATIVE_CALLS_HINT, read_text_calls
from drevalkit.config import Settings

SEARCH = {"name": "web_search", "arguments": {"query": "webb telescope cost"}}
HERMES = f"<tool_call>\n{json.dumps(SEARCH)}\n</tool_call>"


def protocol() -> OpenAIToolsProtocol:
    return OpenAIToolsProtocol(Settings(agent_model="m", agent_base_url="http://127.0.0.1:9/v1"))


def calls_of(text: str) -> list[tuple[str, str, dict]]:
    found = read_text_calls(text)
    assert found is not None and not found.problem, found
    return [(call.form, call.name, call.arguments) for call in found.calls]


# -- the forms -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, form",
    [
        (HERMES, "<tool_call>"),
        (f"<tools>{json.dumps(SEARCH)}</tools>", "<tools>"),  # what Qwen2.5-Coder-1.5B wrote (issue 19)
        ('<function=web_search>{"query": "webb telescope cost"}</function>', "<function=...>"),
        (  # Qwen3-Coder's form, inside <tool_call>
            "<tool_call>\n<function=web_search>\n<parameter=query>\nwebb telescope cost\n</parameter>\n"
            "</function>\n</tool_call>",
            "<function=...>",
        ),
        (json.dumps(SEARCH, indent=2), "JSON"),  # a bare object, pretty-printed
        ('{"name": "web_search", "parameters": {"query": "webb telescope cost"}}', "JSON"),  # "parameters"
        (  # arguments as a JSON string
            '<tool_call>{"name": "web_search", "arguments": "{\\"query\\": \\"webb telescope cost\\"}"}</tool_call>',
            "<tool_call>",
        ),
        (  # OpenAI's own shape, written out
            '<tool_call>{"type": "function", "function": {"name": "web_search", '
            '"arguments": {"query": "webb telescope cost"}}}</tool_call>',
            "<tool_call>",
        ),
        (  # MiroThinker's block under openai-tools
            "<use_mcp_tool>\n<server_name>tools</server_name>\n<tool_name>web_search</tool_name>\n"
            '<arguments>\n{"query": "webb telescope cost"}\n</arguments>\n</use_mcp_tool>',
            "<use_mcp_tool>",
        ),
        (f"```json\n{json.dumps(SEARCH)}\n```", "JSON"),  # the whole reply one fenced block: still a call
    ],
)
def test_each_form_is_read(text, form):
    assert calls_of(text) == [(form, "web_search", {"query": "webb telescope cost"})]


def test_several_calls_and_the_prose_around_them():
    read = {"name": "read_url", "arguments": {"url": "https://a.example/cost", "info_to_extract": "the cost"}}
    text = f"I'll search first: {HERMES}\nand read this page:\n<tool_call>{json.dumps(read)}</tool_call> Then I write."
    found = read_text_calls(text)
    assert found is not None and not found.problem
    assert [(c.name, c.arguments) for c in found.calls] == [
        (SEARCH["name"], SEARCH["arguments"]),
        (read["name"], read["arguments"]),
    ]
    assert found.prose == "I'll search first: \nand read this page:\n Then I write."
    listed = read_text_calls(f"<tools>[{json.dumps(SEARCH)}, {json.dumps(read)}]</tools>")
    assert listed is not None and [c.name for c in listed.calls] == ["web_search", "read_url"]


def test_the_function_form_reads_integer_parameters_and_keeps_text():
    text = "<function=web_search>\n<parameter=query>\n2021 launch\n</parameter>\n<parameter=num>\n3\n</parameter>\n</function>"
    assert calls_of(text) == [("<function=...>", "web_search", {"query": "2021 launch", "num": 3})]


def test_more_calls_than_the_cap_are_left_out_with_a_note():
    found = read_text_calls(HERMES * (MAX_CALLS + 3))
    assert found is not None and len(found.calls) == MAX_CALLS and not found.problem
    assert found.notes == [f"more than {MAX_CALLS} tool calls written in one reply: only the first are run"]


# -- what is not a call --------------------------------------------------------------------------------------------


REPORT = (
    "# The cost of the Webb telescope\n\nThe telescope cost about 10 billion dollars [1].\n\n"
    "## References\n\n[1] NASA. https://a.example/cost\n"
)


@pytest.mark.parametrize(
    "text",
    [
        REPORT,
        REPORT + f"\nAn agent writes its call like this:\n\n```json\n{json.dumps(SEARCH)}\n```\n",  # quoted in a fence
        REPORT + f"\n~~~\n{HERMES}\n~~~\n",
        REPORT + f"\nThe model wrote `<tool_call>{json.dumps(SEARCH)}</tool_call>` inline.\n",  # an inline code span
        REPORT + "\nSmall models emit a tool_call as text; the <tools> tag is what this one used.\n",  # named in prose
        REPORT + f"\nThe object {json.dumps(SEARCH)} was sent mid-sentence.\n",  # not on lines of its own
        REPORT + "\nMiroThinker ends a message with a <use_mcp_tool> block.\n",
        REPORT + "\n## Tools\n- <tools></tools>\n- <tools> web_search, read_url </tools>\n",  # what a 1.5B model wrote
        '{"name": "Webb", "cost": 10}',  # a JSON object that is not a call
        "",
    ],
)
def test_reports_that_quote_or_name_calls_hold_none(text):
    assert read_text_calls(text) is None


# -- calls that cannot be read ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, problem",
    [
        (
            '<tool_call>{"name": "web_search", "arguments": {"query": "x"</tool_call>',
            "<tool_call> block is not valid JSON",
        ),
        ('{"name": "web_search", "arguments": {"query": "unterminated', "tool call is not valid JSON"),
        ('<tool_call>{"arguments": {"query": "x"}}</tool_call>', 'has no "name"'),
        (
            '<tool_call>{"name": "web_search", "arguments": "{not json"}</tool_call>',
            "arguments of web_search are not valid JSON",
        ),
        ('<tool_call>{"name": "web_search", "arguments": [1]}</tool_call>', "must be a JSON object"),
        ("<tool_call>web_search(query='x')</tool_call>", "holds neither a JSON object nor a <function=...> call"),
        ("<function=web_search>\n<parameter=query>x</parameter>", "not terminated (no </function>)"),
        ("<use_mcp_tool><tool_name>web_search</tool_name>", "not terminated (no </use_mcp_tool>)"),
        ("<tool_call>" + "[" * 100_000 + "</tool_call>", "nested too deeply"),  # bounded, never a RecursionError
    ],
)
def test_unreadable_calls_say_why(text, problem):
    found = read_text_calls(text)
    assert found is not None and problem in found.problem and found.calls == []


# -- openai-tools ----------------------------------------------------------------------------------------------------


def test_openai_tools_runs_text_calls_as_native_calls():
    step = protocol().parse(
        Reply(content=f"<think>plan {HERMES}</think>I'll search: <tools>{json.dumps(SEARCH)}</tools>")
    )
    assert not step.problem and not step.ends_task and step.written == ["<tools>"]
    (call,) = step.calls
    assert (call.op, call.name, call.arguments) == (
        "search",
        "web_search",
        {"query": "webb telescope cost", "num": None},
    )
    assert step.reply is not None and step.reply.content == f"<think>plan {HERMES}</think>\n\nI'll search:"
    (native,) = step.reply.tool_calls
    assert (
        native.id == call.call_id
        and native.id.startswith("call_text_")
        and json.loads(native.arguments) == SEARCH["arguments"]
    )


def test_openai_tools_answers_bad_arguments_of_a_text_call_like_a_native_one():
    step = protocol().parse(
        Reply(content='<tool_call>{"name": "read_url", "arguments": {"info_to_extract": "x"}}</tool_call>')
    )
    assert not step.ends_task and step.calls[0].problem == "read_url needs a non-empty string 'url'"


@pytest.mark.parametrize(
    "content, why",
    [
        ('<tool_call>{"name": "python", "arguments": {"code": "1"}}</tool_call>', "'python' is not one of its tools"),
        ('<tool_call>{"name": "web_search", "arguments": {"query": "x"</tool_call>', "not valid JSON"),
    ],
)
def test_openai_tools_ends_the_task_on_a_text_call_it_cannot_run(content, why):
    step = protocol().parse(Reply(content=content))
    assert step.ends_task and step.calls == []
    assert why in step.problem and step.problem.endswith(NATIVE_CALLS_HINT)
    assert "--tool-call-parser hermes" in step.problem and "--jinja" in step.problem and "qwen25" in step.problem


def test_native_calls_come_first_and_a_report_stays_a_report():
    native = RawToolCall("c1", "web_search", '{"query": "native"}')
    step = protocol().parse(Reply(content=HERMES, tool_calls=[native]))
    assert [c.arguments["query"] for c in step.calls] == ["native"] and step.written == [] and step.reply is None
    quoted = protocol().parse(Reply(content=REPORT + f"\n```\n{HERMES}\n```\n"))
    assert quoted.calls == [] and not quoted.problem and quoted.text.startswith("# The cost")
