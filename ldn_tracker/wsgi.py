import gc
import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ldn_tracker.settings")

application = get_wsgi_application()

# Keep what loading the app created (modules, models, settings: about 120,000 objects) out of the garbage
# collector's full passes: they live as long as the process, and walking them cost a five-year FHIR export
# about 40 ms of collections per request.
gc.freeze()
