using System.Net;
using System.Text.Json.Nodes;
using Microsoft.Playwright;
using TrackMulti.Tests.InProcess;
using TrackMulti.Tests.Infrastructure;
using Xunit.Abstractions;

namespace TrackMulti.Tests.Browser;

/// <summary>
/// The page in <c>TRACK_MODE=sdk</c> with the real browser SDK (the project's bundle) in Chromium and a real-looking
/// key: flags from a loopback FME stand-in (<c>FME_SDK_URL</c>), events and impressions posted by the SDK to the page's
/// origin, which forwards them to the Api. They land in S3 and reach the stand-in's events API from the Api, with the
/// server's key; the browser never posts there itself.
/// </summary>
public sealed class FmeSdkPageTests(ITestOutputHelper output) : IAsyncLifetime
{
    private const string Bucket = "fme-sdk-page";
    private const string ClientKey = "k1234567890abcdefghijklmnopqrstuv";
    private const string ServerKey = "server-side-key-0123456789";
    private const string IngestKey = "ingest-key-0123456789abcdef0123456789";
    private S3rverBucket _bucket = null!;
    private FmeStandIn _fme = null!;
    private ApiHost _api = null!;
    private WebProcess _web = null!;

    public async Task InitializeAsync()
    {
        _bucket = await S3rverBucket.CreateAsync(Bucket);
        _fme = await FmeStandIn.StartAsync();
        _api = await ApiHost.StartAsync(_bucket,
            ("FME_EVENTS_URL", _fme.EventsUrl), ("HARNESS_FME_API_KEY", ClientKey), ("HARNESS_FME_SERVER_KEY", ServerKey),
            ("INGEST_API_KEY", IngestKey), ("FME_RETRY_BASE_DELAY_MS", "10"), ("FME_PAUSE_MAX_SECONDS", "1"));
        _web = await WebProcess.StartAsync(_api.Http.BaseAddress!.ToString().TrimEnd('/'), ClientKey,
            ("FME_SDK_URL", _fme.SdkUrl), ("INGEST_API_KEY", IngestKey));
    }

    public async Task DisposeAsync()
    {
        await _web.DisposeAsync();
        await _api.DisposeAsync();
        await _fme.DisposeAsync();
        await _bucket.DisposeAsync();
    }

    [SkippableFact]
    public async Task Clicks_and_the_pages_experiment_land_in_S3_and_reach_FME_through_TrackMulti_and_closing_sends_the_rest()
    {
        await using var browser = await BrowserSession.StartAsync();
        var page = browser.Page;
        var requests = new List<string>();
        page.Request += (_, request) =>
        {
            lock (requests)
            {
                requests.Add($"{request.Method} {request.Url}");
            }
        };
        var problems = new List<string>();
        page.PageError += (_, error) => problems.Add(error);
        page.Console += (_, message) =>
        {
            if (message.Text.Contains("Content Security Policy", StringComparison.OrdinalIgnoreCase))
            {
                problems.Add(message.Text);
            }
        };

        var response = await page.GotoAsync(_web.Url);
        // The page may connect to its origin and to the one SDK host configured, nothing else.
        Assert.Contains($"connect-src 'self' {new Uri(_fme.SdkUrl).GetLeftPart(UriPartial.Authority)};",
            await response!.HeaderValueAsync("content-security-policy"));
        await page.WaitForSelectorAsync("#sdk-status[data-state=ready]", new() { Timeout = 15_000 });
        // The experiment: the stand-in's flag gives everyone 'on', and the page shows it on the button.
        Assert.Equal("on", await page.InnerTextAsync("#treatment"));
        Assert.Equal("on", await page.GetAttributeAsync("#send", "data-variant"));
        var userKey = await page.InputValueAsync("#user-key");

        for (var click = 1; click <= 2; click++)
        {
            await page.ClickAsync("#send");
            var logged = await page.WaitForSelectorAsync($"#log li[data-event='{click}'] [data-role=fme].ok", new() { Timeout = 5_000 });
            Assert.Contains("sends it to TrackMulti", await logged!.InnerTextAsync());
        }

        // The SDK posts its queue (first after ~10 s in a browser); the Web forwards it to the Api.
        var events = await WaitForRowsAsync("events/", rows => rows.Count(r => r["key"]?.GetValue<string>() == userKey) >= 2);
        var clicks = events.Where(r => r["key"]!.GetValue<string>() == userKey).ToList();
        Assert.Equal([1, 2], clicks.Select(r => r["value"]!.GetValue<int>()));
        Assert.All(clicks, r => Assert.Equal("button_click", r["name"]!.GetValue<string>()));
        Assert.All(clicks, r => Assert.Equal("user", r["trafficType"]!.GetValue<string>()));
        Assert.All(clicks, r => Assert.Equal("/", r["properties"]!["page"]!.GetValue<string>()));
        Assert.All(clicks, r => Assert.InRange(r["timestamp"]!.GetValue<long>(),
            DateTimeOffset.UtcNow.AddMinutes(-2).ToUnixTimeMilliseconds(), DateTimeOffset.UtcNow.ToUnixTimeMilliseconds()));

        // One more click, then the visitor leaves: the SDK sends what it holds by beacon (the impression too).
        await page.ClickAsync("#send");
        await page.WaitForSelectorAsync("#log li[data-event='3'] [data-role=fme].ok", new() { Timeout = 5_000 });
        output.WriteLine($"Screenshot: {await browser.ScreenshotAsync("page-sdk-mode")}");
        await page.CloseAsync(new() { RunBeforeUnload = true });

        var impressions = await WaitForRowsAsync("impressions/", rows => rows.Any(r => r["key"]?.GetValue<string>() == userKey));
        var impression = impressions.Single(r => r["key"]!.GetValue<string>() == userKey);
        Assert.Equal(FmeStandIn.FlagName, impression["feature"]!.GetValue<string>());
        Assert.Equal("on", impression["treatment"]!.GetValue<string>());
        Assert.Equal(5, impression["changeNumber"]!.GetValue<long>());
        Assert.Equal("default rule", impression["label"]!.GetValue<string>());
        events = await WaitForRowsAsync("events/", rows => rows.Count(r => r["key"]?.GetValue<string>() == userKey) >= 3);
        Assert.Equal([1, 2, 3], events.Where(r => r["key"]!.GetValue<string>() == userKey).Select(r => r["value"]!.GetValue<int>()));

        // Forwarded by the Api, with the server's key: the clicks and the impression.
        await Poll.UntilAsync(() => ForwardedClicks(userKey) >= 3 && ForwardedImpressions(userKey) >= 1);
        Assert.Equal(3, ForwardedClicks(userKey));
        Assert.Equal(1, ForwardedImpressions(userKey));
        Assert.All(_fme.Posts, post => Assert.Equal($"Bearer {ServerKey}", post.Authorization));
        // What the page held when it closed went by beacon (the forwarder logs what it forwards).
        Assert.Contains("/fme/api/events/beacon", _web.Output);
        Assert.Contains("/fme/api/testImpressions/beacon", _web.Output);
        lock (requests)
        {
            // The browser talked to the page's origin and to the stand-in's SDK API only, never to its events API.
            Assert.DoesNotContain(requests, r => r.StartsWith("POST " + _fme.EventsUrl, StringComparison.Ordinal));
            Assert.Contains($"POST {_web.Url}/fme/api/events/bulk", requests);
        }
        Assert.Empty(problems);
    }

    private int ForwardedClicks(string userKey) =>
        _fme.PostsTo("/events/bulk").Where(p => p.Answered == HttpStatusCode.OK).SelectMany(p => p.Events())
            .Count(e => e["key"]!.GetValue<string>() == userKey && e["eventTypeId"]!.GetValue<string>() == "button_click");

    private int ForwardedImpressions(string userKey) =>
        _fme.PostsTo("/testImpressions/bulk").Where(p => p.Answered == HttpStatusCode.OK).SelectMany(p => p.Impressions())
            .Count(i => i["k"]!.GetValue<string>() == userKey && i["f"]!.GetValue<string>() == FmeStandIn.FlagName);

    /// <summary>Flushes the Api now and then until the rows under <paramref name="prefix"/> satisfy <paramref name="enough"/>.</summary>
    private Task<List<JsonObject>> WaitForRowsAsync(string prefix, Func<List<JsonObject>, bool> enough) => Poll.UntilAsync(
        async () =>
        {
            (await _api.Http.PostAsync("/api/flush", null)).Dispose();
            return await _bucket.LinesAsync(prefix);
        },
        enough, rows => $"{prefix} holds {rows.Count} rows: {string.Join(" ", rows.Select(r => r.ToJsonString()))}",
        budget: TimeSpan.FromSeconds(60), every: TimeSpan.FromMilliseconds(500));
}
