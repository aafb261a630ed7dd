"""The yardstick: the chat app of Streamlit's tutorial "Build a basic LLM chat app", as written
there (history in `st.session_state`, `openai` with `stream=True`, `st.write_stream`).

Written here for `bench/stream.py`, which runs it under `streamlit run` next to our app and
points both at the same local OpenAI-compatible server (OPENAI_BASE_URL, OPENAI_API_KEY).
Nothing is added that the tutorial does not do, so that the comparison stays fair.
"""

import streamlit as st
from openai import OpenAI

st.title("Tutorial chat")

client = OpenAI()  # OPENAI_BASE_URL and OPENAI_API_KEY from the environment

if "openai_model" not in st.session_state:
    st.session_state["openai_model"] = "gpt-3.5-turbo"

if "messages" not in st.session_state:
    st.session_state.messages = []

for message in st.session_state.messages:
    with st.chat_message(message["role"]):
        st.markdown(message["content"])

if prompt := st.chat_input("Message the assistant"):
    st.session_state.messages.append({"role": "user", "content": prompt})
    with st.chat_message("user"):
        st.markdown(prompt)

    with st.chat_message("assistant"):
        stream = client.chat.completions.create(
            model=st.session_state["openai_model"],
            messages=[
                {"role": m["role"], "content": m["content"]} for m in st.session_state.messages
            ],
            stream=True,
        )
        response = st.write_stream(stream)
    st.session_state.messages.append({"role": "assistant", "content": response})
