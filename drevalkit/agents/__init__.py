"""The agent runner and its protocols (openai-tools, mirothinker): produces reports and traces."""
