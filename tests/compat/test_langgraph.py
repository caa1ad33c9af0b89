"""LangChain's ChatOpenAI (httpx2 under openai 3.x) and a LangGraph tool loop."""

from __future__ import annotations

from typing import Any

from compat import ANSWER, CONCURRENCY, HELLO, ORDER, N, check, configure
from compat import lookup_order as lookup
from langchain_core.tools import tool
from langchain_openai import ChatOpenAI
from langgraph.graph import START, MessagesState, StateGraph
from langgraph.prebuilt import ToolNode, tools_condition

from pytest_agentperf import budget, first_token


@tool
def lookup_order(order_id: str) -> str:
    """Look up the shipping status of an order."""
    return lookup(order_id)


def build_graph(llm: ChatOpenAI) -> Any:
    """The ReAct loop as LangGraph's docs build it: agent -> tools -> agent."""
    with_tools = llm.bind_tools([lookup_order])

    async def agent(state: MessagesState) -> dict[str, Any]:
        return {"messages": [await with_tools.ainvoke(state["messages"])]}

    builder = StateGraph(MessagesState)
    builder.add_node("agent", agent)
    builder.add_node("tools", ToolNode([lookup_order]))
    builder.add_edge(START, "agent")
    builder.add_conditional_edges("agent", tools_condition)
    builder.add_edge("tools", "agent")
    return builder.compile()


async def run_agent(llm: ChatOpenAI, graph: Any) -> None:
    hello = await llm.ainvoke(HELLO)
    assert hello.content
    async for chunk in llm.astream(HELLO):
        if chunk.content:
            first_token()
    state = await graph.ainvoke({"messages": [("user", ORDER)]})
    assert state["messages"][-1].content == ANSWER


@budget(error_rate="<= 1%")
async def test_chat_model_and_graph(agent_perf: Any, mock_llm: Any) -> None:
    configure(mock_llm)
    llm = ChatOpenAI(model="gpt-4o-mini")
    graph = build_graph(llm)

    async def task(_: object) -> None:
        await run_agent(llm, graph)

    result = await agent_perf.run(task, n=N, concurrency=CONCURRENCY, warmup=0)
    check(result, mock_llm, calls_per_task=4, endpoints={"/v1/chat/completions": 4})
