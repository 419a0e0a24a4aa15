using TrackMulti.Tests.Infrastructure;

namespace TrackMulti.Tests.Browser;

/// <summary>
/// A real-looking FME key with no route to FME (every non-loopback request is aborted): the page says the SDK timed
/// out, and the events still reach S3 through the server. Web and Api run on their own against s3rver.
/// </summary>
public sealed class UnreachableFmeTests : IAsyncLifetime
{
    private const string Bucket = "unreachable-fme";
    private const string FmeKey = "k1234567890abcdefghijklmnopqrstuv";
    private S3rverBucket _bucket = null!;
    private ApiProcess _api = null!;
    private WebProcess _web = null!;

    public async Task InitializeAsync()
    {
        _bucket = await S3rverBucket.StartAsync(Bucket);
        _api = await _bucket.StartApiAsync();
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
        lock (browser.AbortedRequests)
        {
            Assert.Contains(browser.AbortedRequests, url => new Uri(url).Host.EndsWith("split.io", StringComparison.Ordinal));
        }

        await page.ClickAsync("#send");
        await page.WaitForSelectorAsync("#log li[data-event='1'] [data-role=server].ok", new() { Timeout = 15_000 });
        await page.ClickAsync("#flush");
        await page.WaitForSelectorAsync("#log [data-role=flush].ok", new() { Timeout = 15_000 });

        var userKey = await page.InputValueAsync("#user-key");
        var line = Assert.Single(await _bucket.LinesAsync());
        Assert.Equal(userKey, line["key"]!.GetValue<string>());
        await browser.ScreenshotAsync("page-fme-timed-out");
    }
}
