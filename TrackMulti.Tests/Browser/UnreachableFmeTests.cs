using System.Text.Json.Nodes;
using TrackMulti.Tests.InProcess;
using TrackMulti.Tests.Infrastructure;

namespace TrackMulti.Tests.Browser;

/// <summary>
/// A real-looking FME key with no route to FME (every non-loopback request is aborted): the page says the SDK timed
/// out, and the events still reach S3, sent by the SDK to the page's origin (<c>TRACK_MODE=sdk</c>, the default with a
/// real key). Web and Api run on their own against s3rver.
/// </summary>
public sealed class UnreachableFmeTests : IAsyncLifetime
{
    private const string Bucket = "unreachable-fme";
    private const string FmeKey = "k1234567890abcdefghijklmnopqrstuv";
    private S3rverBucket _bucket = null!;
    private ApiHost _api = null!;
    private WebProcess _web = null!;

    public async Task InitializeAsync()
    {
        _bucket = await S3rverBucket.CreateAsync(Bucket);
        _api = await ApiHost.StartAsync(_bucket, ("HARNESS_FME_API_KEY", FmeKey));
        _web = await WebProcess.StartAsync(_api.Http.BaseAddress!.ToString().TrimEnd('/'), FmeKey);
    }

    public async Task DisposeAsync()
    {
        await _web.DisposeAsync();
        await _api.DisposeAsync();
        await _bucket.DisposeAsync();
    }

    [SkippableFact]
    public async Task The_SDK_times_out_visibly_and_the_event_still_lands_in_S3()
    {
        await using var browser = await BrowserSession.StartAsync();
        var page = browser.Page;

        await page.GotoAsync(_web.Url);
        Assert.Contains($"\"authorizationKey\":\"{FmeKey}\"", await page.ContentAsync());
        var timedOut = await page.WaitForSelectorAsync("#sdk-status[data-state=timed-out]", new() { Timeout = 20_000 });
        Assert.Contains("timed out", await timedOut!.InnerTextAsync());
        // The bucket is empty: the list says so, and what would fill it.
        Assert.True(await page.IsVisibleAsync("#objects-empty"));
        Assert.Equal(0, await page.Locator("#objects tbody tr").CountAsync());
        lock (browser.AbortedRequests)
        {
            Assert.Contains(browser.AbortedRequests, url => new Uri(url).Host.EndsWith("split.io", StringComparison.Ordinal));
        }

        await page.ClickAsync("#send");
        await page.WaitForSelectorAsync("#log li[data-event='1'] [data-role=fme].ok", new() { Timeout = 5_000 });
        Assert.Equal("control", await page.InnerTextAsync("#treatment")); // no flags without FME: the SDK's 'control'

        // A timed-out SDK still posts its queue (the first time ~10 s after it started), to this origin.
        var userKey = await page.InputValueAsync("#user-key");
        var line = await Poll.UntilAsync(async () =>
        {
            await page.ClickAsync("#flush");
            return (await _bucket.LinesAsync()).SingleOrDefault();
        }, found => found is not null, _ => "the SDK's event never reached S3", budget: TimeSpan.FromSeconds(60), every: TimeSpan.FromMilliseconds(500));
        Assert.NotNull(line);
        Assert.Equal(userKey, line["key"]!.GetValue<string>());
        Assert.Equal("button_click", line["name"]!.GetValue<string>());
        await page.ClickAsync("#flush"); // the list refreshes after a flush
        await page.WaitForSelectorAsync("#objects tbody tr", new() { Timeout = 5_000 });
        Assert.False(await page.IsVisibleAsync("#objects-empty"));
        await browser.ScreenshotAsync("page-fme-timed-out");
    }
}
