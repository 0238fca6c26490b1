"""The playground: `torchprimer ui`, a local web page that trains real PyTorch networks.

`settings` checks what the page asks for, `session` trains one tab's network in a worker
thread, `views` turns the network into pictures (decision boundary, hidden units,
confusion), `script` writes the equivalent stand-alone script, `server` is the FastAPI app.
FastAPI and uvicorn come with the optional extra: pip install 'torchprimer[ui]'.
"""
