"""`aelab serve`: a local web app to explore trained runs live (latent map, sliders,
interpolation, drawing and uploads, samples, run comparison).

    from aelab.serve import Server
    server = Server(["runs"], port=0).start()   # a background thread; server.url says where
    ...
    server.stop()
"""

from aelab.serve.app import create_app
from aelab.serve.server import Server

__all__ = ["create_app", "Server"]
