"""The agent protocols (drevalkit.agents.protocols), without servers: MiroThinker and OpenAI tool-call parsing and
requests, thinking stripped or kept, pruning of old tool results, and the token estimate of a request."""

import pytest

from drevalkit.agents.endpoint import RawToolCall, Reply
from drevalkit.agents.protocols.base import OMITTED, Conversation, estimate_request_tokens, strip_thinking
from drevalkit.agents.protocols.mirothinker import MiroThinkerProtocol, strip_tool_markup
from drevalkit.agents.protocols.openai_tools import OpenAIToolsProtocol
from drevalkit.config import Settings
from drevalkit.schemas import Task

TASK = Task.model_validate({"id": "t1", "prompt": "How much did the Webb telescope cost?"})


def settings(**values) -> Settings:
    return Settings(agent_model="m", agent_base_url="http://127.0.0.1:9/v1", **values)


def block(server: str, tool: str, arguments: str) -> str:
    return (
        f"<use_mcp_tool>\n<server_name>{server}</server_name>\n<tool_name>{tool}</tool_name>\n"
        f"<arguments>\n{arguments}\n</arguments>\n</use_mcp_tool>"
    )


# -- thinking ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, expected",
    [
        ("<think>plan</think>\n\n# Report", "# Report"),
        ("<THINK>a</THINK>x<think>b</think>y", "xy"),
        ("template opened it</think>\n# Report", "# Report"),  # the chat template opened the block
        ("# Report\n<think>cut off while thinking", "# Report"),
        ("<think>only thinking, never closed", ""),
        ("no thinking at all", "no thinking at all"),
    ],
)
def test_strip_thinking(text, expected):
    assert strip_thinking(text) == expected


# -- mirothinker ---------------------------------------------------------------------------------------------------


def test_mirothinker_parses_one_call_and_ignores_calls_inside_thinking():
    protocol = MiroThinkerProtocol(settings())
    hidden = block("search_and_scrape_webpage", "google_search", '{"q": "hidden"}')
    content = f"<think>maybe {hidden}</think>\nSearching.\n" + block(
        "search_and_scrape_webpage", "google_search", '{"q": "webb cost", "num": 3, "gl": "us"}'
    )
    step = protocol.parse(Reply(content=content))
    assert not step.problem and len(step.calls) == 1
    call = step.calls[0]
    assert (call.op, call.arguments, call.server) == (
        "search",
        {"query": "webb cost", "num": 3},
        "search_and_scrape_webpage",
    )
    assert step.text == "Searching."
    fenced = '```json\n{"url": "https://a.example/x", "info_to_extract": "cost"}\n```'
    read = protocol.parse(Reply(content=block("jina_scrape_llm_summary", "scrape_and_extract_info", fenced)))
    assert read.calls[0].op == "read" and read.calls[0].arguments == {"url": "https://a.example/x", "info": "cost"}


@pytest.mark.parametrize(
    "content, problem",
    [
        (block("search_and_scrape_webpage", "google_search", '{"q": "unterminated'), "not valid JSON"),
        (block("search_and_scrape_webpage", "google_search", '["q"]'), "JSON object"),
        (block("search_and_scrape_webpage", "google_search", '{"q": ""}'), "non-empty string 'q'"),
        (block("jina_scrape_llm_summary", "scrape_and_extract_info", '{"info_to_extract": "x"}'), "'url'"),
        ("<use_mcp_tool><server_name>s</server_name><arguments>{}</arguments></use_mcp_tool>", "no <tool_name>"),
    ],
)
def test_mirothinker_malformed_calls(content, problem):
    step = MiroThinkerProtocol(settings()).parse(Reply(content=content))
    assert problem in step.calls[0].problem


def test_mirothinker_unterminated_block_unknown_tool_and_second_block():
    protocol = MiroThinkerProtocol(settings())
    cut = protocol.parse(Reply(content="<use_mcp_tool>\n<server_name>search_and_scrape_webpage</server_name>\n<tool"))
    assert "not terminated" in cut.problem and not cut.calls
    unknown = protocol.parse(Reply(content=block("tool-python", "run_python_code", '{"code": "1"}')))
    assert unknown.calls[0].op == "" and not unknown.calls[0].problem  # answered with an error, not rolled back
    two = protocol.parse(
        Reply(
            content=block("search_and_scrape_webpage", "google_search", '{"q": "a"}')
            + block("search_and_scrape_webpage", "google_search", '{"q": "b"}')
        )
    )
    assert len(two.calls) == 1 and two.calls[0].arguments["query"] == "a" and "only the first" in two.notes[0]
    done = protocol.parse(Reply(content="<think>enough</think>I have what I need."))
    assert not done.calls and not done.problem


def test_mirothinker_request_sampling_and_no_native_tools():
    protocol = MiroThinkerProtocol(settings())
    conversation = protocol.start(TASK)
    request = protocol.request(conversation)
    assert request["temperature"] == 1.0 and request["top_p"] == 0.95 and request["max_tokens"] == 16384
    assert request["extra_body"] == {"repetition_penalty": 1.05} and "tools" not in request
    system = request["messages"][0]["content"]
    for name in (
        "search_and_scrape_webpage",
        "google_search",
        "jina_scrape_llm_summary",
        "scrape_and_extract_info",
        '"q"',
        '"info_to_extract"',
        "<use_mcp_tool>",
    ):
        assert name in system
    overridden = MiroThinkerProtocol(settings(agent_temperature=0.3, agent_max_tokens=4096))
    assert overridden.request(conversation)["temperature"] == 0.3
    assert overridden.request(conversation)["max_tokens"] == 4096


def test_mirothinker_keeps_thinking_a_reasoning_parser_split_off():
    protocol = MiroThinkerProtocol(settings())
    conversation = protocol.start(TASK)
    protocol.add_reply(conversation, Reply(content="Searching.", reasoning="I should search."), 1)
    assert conversation.entries[-1].message["content"].startswith("<think>\nI should search.\n</think>")


def test_strip_tool_markup():
    assert strip_tool_markup("# R\n" + block("s", "t", "{}") + "\nend") == "# R\n\nend"
    assert strip_tool_markup("# R\n<use_mcp_tool><server_name>x") == "# R"


# -- openai-tools ----------------------------------------------------------------------------------------------------


def test_openai_tools_parse_and_request():
    protocol = OpenAIToolsProtocol(settings())
    reply = Reply(
        content="",
        tool_calls=[
            RawToolCall("c1", "web_search", '{"query": "webb cost"}'),
            RawToolCall("c2", "read_url", '{"url": "https://a.example", "info_to_extract": "cost"}'),
            RawToolCall("c3", "web_search", '{"query": '),
            RawToolCall("c4", "run_python", '{"code": "1"}'),
            RawToolCall("c5", "read_url", '"just a string"'),
        ],
    )
    calls = protocol.parse(reply).calls
    assert [c.op for c in calls] == ["search", "read", "search", "", "read"]
    assert calls[0].arguments == {"query": "webb cost", "num": None}
    assert "not valid JSON" in calls[2].problem and not calls[3].problem and "JSON object" in calls[4].problem
    conversation = protocol.start(TASK)
    request = protocol.request(conversation)
    assert [t["function"]["name"] for t in request["tools"]] == ["web_search", "read_url"]
    assert request["tool_choice"] == "auto" and "temperature" not in request and request["max_tokens"] == 8192
    assert protocol.request(conversation, final=True)["tool_choice"] == "none"


# -- conversation ----------------------------------------------------------------------------------------------------


def test_pruning_keeps_the_last_k_results_and_every_assistant_message():
    conversation = Conversation()
    conversation.add("system", {"role": "system", "content": "s"})
    conversation.add("task", {"role": "user", "content": "task"})
    for turn in range(1, 8):
        conversation.add("assistant", {"role": "assistant", "content": f"thought {turn}"}, turn)
        conversation.add("tool_result", {"role": "user", "content": f"result {turn}"}, turn)
    sent = conversation.messages(keep=3)
    contents = [m["content"] for m in sent]
    assert contents.count(OMITTED) == 4 and ["result 5", "result 6", "result 7"] == [
        c for c in contents if c.startswith("result")
    ]
    assert [c for c in contents if c.startswith("thought")] == [f"thought {t}" for t in range(1, 8)]
    assert contents[:2] == ["s", "task"]
    assert conversation.messages(keep=-1)[-1]["content"] == "result 7" and OMITTED not in str(conversation.messages(-1))
    assert all(
        m["content"] == OMITTED for m in conversation.messages(keep=0) if m["role"] == "user" and m["content"] != "task"
    )
    assert conversation.entries[3].message["content"] == "result 1"  # pruning never changes what is kept


def test_token_estimate_counts_tool_calls_and_schemas():
    plain = {"messages": [{"role": "user", "content": "x" * 400}]}
    with_tools = {
        **plain,
        "tools": [{"type": "function", "function": {"name": "n" * 400}}],
        "messages": plain["messages"]
        + [{"role": "assistant", "content": None, "tool_calls": [{"id": "a", "function": {"arguments": "y" * 400}}]}],
    }
    assert estimate_request_tokens(plain) == 108
    assert estimate_request_tokens(with_tools) > estimate_request_tokens(plain) + 200
