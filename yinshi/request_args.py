"""The poem request on the command line: the flags `yinshi poem` and `yinshi ask` share."""

import argparse

from pydantic import ValidationError

from yinshi.errors import UserError
from yinshi.protocol import PoemRequest

FIELDS = ("topic", "form", "acrostic", "first_line", "n", "seed", "scheme")


def add_request_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("topic", metavar="TOPIC", help="题目 / title or theme, e.g. 春江")
    parser.add_argument("--form", default="七绝", help="五绝 七绝 五律 七律, a 词牌, or free")
    parser.add_argument("--acrostic", help="藏头：每句首字 / one head character per line")
    parser.add_argument("--first-line", help="续写：诗以此句开头 / the poem starts with this line")
    parser.add_argument("--n", type=int, default=1, help="how many poems (1-8, default 1)")
    parser.add_argument(
        "--seed",
        type=int,
        help="same seed, same poems (`yinshi ask` may answer from the cache: add --fresh)",
    )
    parser.add_argument(
        "--scheme",
        choices=("pingshui", "xinyun"),
        default="pingshui",
        help="pingshui 平水韵 or xinyun 中华新韵",
    )
    parser.add_argument("--json", dest="as_json", action="store_true", help="print JSON")


def request_from_args(args: argparse.Namespace) -> PoemRequest:
    """The validated request, or a one-line UserError naming the bad field."""
    given = {name: getattr(args, name) for name in FIELDS if getattr(args, name) is not None}
    return validated(PoemRequest, "请求有误 bad request", **given)


def validated(model, what: str, **values):
    """Build a pydantic model; a validation failure becomes one readable line."""
    try:
        return model(**values)
    except ValidationError as error:
        problem = error.errors()[0]
        where = ".".join(str(part) for part in problem["loc"])
        raise UserError(f"{what} ({where}: {problem['msg']})") from None
