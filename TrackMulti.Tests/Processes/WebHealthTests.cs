using System.Net;
using System.Text.Json.Nodes;
using Microsoft.Extensions.Hosting;
using TrackMulti.Tests.Infrastructure;

namespace TrackMulti.Tests.Processes;

/// <summary>The Web alone, as deployed (Production), answers health probes of its own, like the Api.</summary>
public sealed class WebHealthTests
{
    [Fact]
    public async Task The_Web_answers_health_and_alive_in_Production_whether_or_not_the_Api_is_up()
    {
        // No Api behind it: a Web's probe says whether the Web can serve, so an Api outage does not pull every Web too.
        var noApi = $"http://127.0.0.1:{ChildProcess.FreeTcpPort()}";
        await using var web = await WebProcess.StartAsync(noApi, "localhost");
        using var http = new HttpClient { BaseAddress = new Uri(web.Url) };

        using var health = await http.GetAsync(Extensions.HealthPath);
        Assert.Equal(HttpStatusCode.OK, health.StatusCode);
        Assert.Equal("application/json", health.Content.Headers.ContentType?.MediaType);
        var body = JsonNode.Parse(await health.Content.ReadAsStringAsync())!;
        Assert.Equal("Healthy", body["status"]!.GetValue<string>());
        Assert.NotEmpty(body["checks"]!.AsObject());
        Assert.All(body["checks"]!.AsObject(), check => Assert.Equal("Healthy", check.Value!.GetValue<string>()));

        using var alive = await http.GetAsync(Extensions.AlivePath);
        Assert.Equal(HttpStatusCode.OK, alive.StatusCode);
    }
}
