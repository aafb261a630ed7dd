"""Export conversations as plain data (JSON). Never includes secrets: none are stored."""

from __future__ import annotations

from typing import Any

from assistant.store import Conversation, Message, Store

EXPORT_FORMAT_VERSION = 1


def message_record(message: Message) -> dict[str, Any]:
    return {
        "id": message.id,
        "seq": message.seq,
        "role": message.role,
        "content": message.content,
        "status": message.status,
        "reply_to": message.reply_to,
        "provider": message.provider,
        "model": message.model,
        "params": message.params or None,
        "system_prompt": message.system_prompt,
        "prompt_tokens": message.prompt_tokens,
        "completion_tokens": message.completion_tokens,
        "first_token_s": message.first_token_s,
        "total_s": message.total_s,
        "finish_reason": message.finish_reason,
        "error": message.error,
        "created_at": message.created_at,
        "updated_at": message.updated_at,
    }


def conversation_record(store: Store, conversation: Conversation) -> dict[str, Any]:
    return {
        "id": conversation.id,
        "title": conversation.title,
        "created_at": conversation.created_at,
        "updated_at": conversation.updated_at,
        "messages": [message_record(m) for m in store.messages(conversation.id)],
    }


def export_json(store: Store, conversation_id: int | None = None) -> dict[str, Any]:
    """`{"conversations": [...]}` for one conversation (NotFound if missing) or all of them."""
    if conversation_id is not None:
        conversations = [store.get_conversation(conversation_id)]
    else:
        conversations = store.list_conversations(limit=None)
    return {
        "format": "assistant-export",
        "version": EXPORT_FORMAT_VERSION,
        "conversations": [conversation_record(store, c) for c in conversations],
    }
