"""`nmt serve`: trained runs behind an HTTP API and a web page that draws their attention.

batcher.py merges requests that arrive together into one model forward; jobs.py is what
such a forward does (translate or score, through nmt.Translator); models.py loads the
runs and describes them; limits.py and schemas.py say what a request may hold; app.py
puts it together as a FastAPI app, with middleware.py's body limit and access log;
page.html is the page at `/`; server.py runs the app under uvicorn.
"""
