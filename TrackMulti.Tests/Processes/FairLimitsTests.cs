using System.Net;
using System.Net.Http.Json;
using System.Net.Sockets;
using System.Text.Json.Nodes;
using TrackMulti.Tests.InProcess;
using TrackMulti.Tests.Infrastructure;

namespace TrackMulti.Tests.Processes;

/// <summary>
/// Browsers behind the Web are limited one by one, at the Web and at the Api, not as one bucket: the Web (holding the
/// ingest key) names each browser's address, and a browser cannot make itself someone else. The Web runs as its own
/// process, as deployed, so each browser reaches it from an address of its own; the Api behind it runs in-process.
/// </summary>
public sealed class FairLimitsTests : IAsyncLifetime
{
    private const string IngestKey = "ingest-key-fair-0123456789abcdef";
    private S3rverBucket _bucket = null!;
    private ApiHost _api = null!;
    private WebProcess _web = null!;

    public async Task InitializeAsync()
    {
        _bucket = await S3rverBucket.CreateAsync("fair-limits");
        // The Api's per-client limit is below the sum of the browsers', and below the Web's own per-browser burst.
        _api = await ApiHost.StartAsync(_bucket, ("INGEST_API_KEY", IngestKey), ("RATE_LIMIT_PER_SECOND", "1"), ("RATE_LIMIT_BURST", "12"));
        _web = await WebProcess.StartAsync(_api.Http.BaseAddress!.ToString().TrimEnd('/'), "localhost",
            ("INGEST_API_KEY", IngestKey), ("WEB_RATE_LIMIT_PER_SECOND", "20"));
    }

    public async Task DisposeAsync()
    {
        await _web.DisposeAsync();
        await _api.DisposeAsync();
        await _bucket.DisposeAsync();
    }

    [Fact]
    public async Task Many_browsers_each_under_their_own_limit_get_no_429_though_together_they_pass_the_Apis_per_client_rate()
    {
        var browsers = Enumerable.Range(2, 8).Select(n => Browser($"127.0.0.{n}")).ToList();

        var answers = await Task.WhenAll(browsers.Select(browser => SendAsync(browser, 10)));

        Assert.All(answers, statuses => Assert.All(statuses, status => Assert.Equal(HttpStatusCode.OK, status)));
        Assert.Equal(80, answers.Sum(a => a.Count)); // 80 events in a moment: 6 times what one client may send at once
    }

    [Fact]
    public async Task A_greedy_browser_is_limited_alone_and_a_forged_address_changes_nothing()
    {
        using var greedy = Browser("127.0.0.20");
        using var modest = Browser("127.0.0.21");

        // The greedy browser claims a new address on every request, both ways a browser might try.
        var greedyAnswers = await SendAsync(greedy, 20, forge: true);
        var modestAnswers = await SendAsync(modest, 10);

        // Its own burst at the Api (plus what refilled meanwhile), and then 429: a forged address bought no fresh bucket.
        Assert.All(greedyAnswers.Take(12), status => Assert.Equal(HttpStatusCode.OK, status));
        Assert.Contains(HttpStatusCode.TooManyRequests, greedyAnswers);
        Assert.All(greedyAnswers.Where(status => status != HttpStatusCode.OK), status => Assert.Equal(HttpStatusCode.TooManyRequests, status));
        Assert.All(modestAnswers, status => Assert.Equal(HttpStatusCode.OK, status));
    }

    private async Task<List<HttpStatusCode>> SendAsync(HttpClient browser, int events, bool forge = false)
    {
        var statuses = new List<HttpStatusCode>();
        for (var n = 0; n < events; n++)
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, "/api/track") { Content = JsonContent.Create(new JsonObject { ["name"] = "fair" }) };
            if (forge)
            {
                request.Headers.Add("X-Forwarded-For", $"10.1.{n}.1");
                request.Headers.Add("X-TrackMulti-Client", $"10.2.{n}.1");
            }
            using var response = await browser.SendAsync(request);
            statuses.Add(response.StatusCode);
        }
        return statuses;
    }

    /// <summary>A browser on its own loopback address (127.0.0.x), talking to the Web.</summary>
    private HttpClient Browser(string address) => new(new SocketsHttpHandler
    {
        ConnectCallback = async (context, cancellationToken) =>
        {
            var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
            try
            {
                socket.Bind(new IPEndPoint(IPAddress.Parse(address), 0));
                await socket.ConnectAsync(context.DnsEndPoint, cancellationToken);
                return new NetworkStream(socket, ownsSocket: true);
            }
            catch
            {
                socket.Dispose();
                throw;
            }
        },
    })
    { BaseAddress = new Uri(_web.Url) };
}
