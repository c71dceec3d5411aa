"""Lab stand-in apps for mem0ops.stack (run one per container: ``python -m apps.<name>``).

- ``apps.embedder``        Ollama/OpenAI-compatible embedding service (deterministic word-hash vectors)
- ``apps.mem0_server``     mem0 REST API server over the real mem0ai library (pgvector)
- ``apps.openmemory_mcp``  stand-in for the OpenMemory MCP/API server
- ``apps.openmemory_ui``   stand-in for the OpenMemory UI
- ``apps.probe``           stdlib HTTP probe for compose healthchecks (exit 0 on HTTP 200)
"""
