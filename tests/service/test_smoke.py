async def test_health_answers_with_the_store(service):
    response = await service.http.get(f"{service.url}/api/v1/health")
    assert response.status_code == 200
    assert response.json()["store"] == "sqlite"


async def test_new_user_gets_free_credits(site):
    assert await site.credits(7) == {
        "article_credits": 5,
        "image_credits": 10,
        "rewrite_credits": 3,
    }
