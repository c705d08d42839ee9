"""Web-framework integrations built on ASGI: the middleware and lifespan behind ``peekr.integrations.fastapi``.

The public names live in ``peekr.integrations.fastapi`` (see ``docs/fastapi.md``); this package holds
their implementation. Other framework integrations join ``peekr.integrations`` as siblings.
"""
