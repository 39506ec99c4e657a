"""The bookshop's URLs."""

from django.urls import path
from shelf import views

urlpatterns = [
    path("up/", views.up),
    path("books/", views.book_list),
    path("books/<int:book_id>/", views.book_page),
    path("books/<int:book_id>/reviews/", views.add_review),
]
