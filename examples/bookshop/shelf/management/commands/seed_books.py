"""Seed the shelf: books by the fixture's authors, and a few reviews each."""

import random

from django.core.management.base import BaseCommand, CommandParser

from shelf.models import Author, Book, Review


class Command(BaseCommand):
    help = "Create --books books (by the existing authors) with up to 5 reviews each."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--books", type=int, default=1000)

    def handle(self, *args: object, **options: object) -> None:
        rng = random.Random(42)  # the same shelf every run
        authors = list(Author.objects.all())
        if not authors:
            raise SystemExit("seed_books: no authors; load shelf/fixtures/authors.json first")
        books = Book.objects.bulk_create(
            Book(
                title=f"Book {n}",
                author=rng.choice(authors),
                year=rng.randint(1900, 2025),
                price_cents=rng.randint(500, 5000),
            )
            for n in range(int(options["books"]))  # type: ignore[call-overload]
        )
        Review.objects.bulk_create(
            Review(book=b, stars=rng.randint(1, 5), text="seeded")
            for b in books
            for _ in range(rng.randint(0, 5))
        )
        self.stdout.write(f"seeded {len(books)} books")
