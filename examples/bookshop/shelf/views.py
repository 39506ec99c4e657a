"""The bookshop's views: plain sync Django, as most teams write them."""

import json

from django.core.paginator import Paginator
from django.db.models import Avg, Count
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, render
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from shelf.models import Book, Review

PAGE_SIZE = 20


@require_GET
def up(request: HttpRequest) -> HttpResponse:
    """Liveness: the process answers (no database)."""
    return HttpResponse("ok", content_type="text/plain")


@require_GET
def book_list(request: HttpRequest) -> JsonResponse:
    """One page of books with their authors, and how many books there are."""
    books = Book.objects.select_related("author").order_by("id")
    page = Paginator(books, PAGE_SIZE).get_page(request.GET.get("page"))
    return JsonResponse(
        {
            "count": page.paginator.count,
            "page": page.number,
            "books": [
                {"id": b.id, "title": b.title, "author": b.author.name, "year": b.year}
                for b in page
            ],
        }
    )


@require_GET
def book_page(request: HttpRequest, book_id: int) -> HttpResponse:
    """A book's page: the book, its author, its latest reviews and their average."""
    book = get_object_or_404(Book.objects.select_related("author"), pk=book_id)
    stats = book.reviews.aggregate(count=Count("id"), average=Avg("stars"))
    reviews = book.reviews.all()[:10]
    return render(request, "shelf/book.html", {"book": book, "stats": stats, "reviews": reviews})


@csrf_exempt  # an API for other services: no browser session, no CSRF cookie
@require_POST
def add_review(request: HttpRequest, book_id: int) -> JsonResponse:
    """Add a review to a book from a JSON body ``{"stars": 1-5, "text": "..."}``."""
    book = get_object_or_404(Book, pk=book_id)
    try:
        data = json.loads(request.body)
        stars, text = int(data["stars"]), str(data["text"])
    except (ValueError, KeyError, TypeError):
        return JsonResponse({"error": "expected {stars, text}"}, status=400)
    if not 1 <= stars <= 5:
        return JsonResponse({"error": "stars: 1 to 5"}, status=400)
    review = Review.objects.create(book=book, stars=stars, text=text[:500])
    return JsonResponse({"id": review.id, "book": book.id, "stars": stars}, status=201)
