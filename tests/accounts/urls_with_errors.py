"""The app's URLs plus one view that fails, for the error page and error log tests."""

from django.http import HttpRequest, HttpResponse
from django.urls import path

from ldn_tracker.urls import urlpatterns as app_urlpatterns

SECRET_IN_ERROR = "Ada Byron MRN A-100 dose 4.5 mg"


def fail(request: HttpRequest) -> HttpResponse:
    raise RuntimeError(SECRET_IN_ERROR)


urlpatterns = [path("fail/", fail), *app_urlpatterns]
