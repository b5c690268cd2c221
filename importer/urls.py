from django.urls import path

from . import views

app_name = "importer"

urlpatterns = [
    path("import/", views.upload, name="upload"),
    path("import/template.csv", views.template_csv, name="template-csv"),
    path("import/template.xlsx", views.template_xlsx, name="template-xlsx"),
    path("import/<int:batch_id>/", views.batch, name="batch"),
]
