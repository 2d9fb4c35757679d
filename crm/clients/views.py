"""Client pages: the directory, create and edit."""

from flask import Blueprint

bp = Blueprint("clients", __name__)
