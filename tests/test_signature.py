from app import signature

# GitHub's own test vector:
# https://docs.github.com/en/webhooks/using-webhooks/validating-webhook-deliveries#testing-the-webhook-payload-validation
SECRET = "It's a Secret to Everybody"
BODY = b"Hello, World!"
EXPECTED = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"


def test_github_test_vector():
    assert signature.sign(SECRET, BODY) == EXPECTED
    assert signature.verify(SECRET, BODY, EXPECTED)


def test_rejects_wrong_missing_and_empty():
    assert not signature.verify(SECRET, BODY + b" ", EXPECTED)
    assert not signature.verify(SECRET, BODY, None)
    assert not signature.verify(SECRET, BODY, "")
    assert not signature.verify("", BODY, signature.sign("", BODY))
    assert not signature.verify(SECRET, BODY, EXPECTED.replace("sha256=", "sha1="))
