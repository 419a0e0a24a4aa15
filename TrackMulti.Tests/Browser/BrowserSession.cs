using Microsoft.Playwright;
using TrackMulti.Tests.Infrastructure;

namespace TrackMulti.Tests.Browser;

/// <summary>
/// Headless Debian Chromium driven by Playwright, never a downloaded browser. Every request to a host other than this
/// machine is aborted, so a test never waits on the internet (the FME SDK's hosts included).
/// </summary>
internal sealed class BrowserSession : IAsyncDisposable
{
    private static readonly string ChromiumPath = Environment.GetEnvironmentVariable("CHROMIUM_PATH") is { Length: > 0 } path ? path : "/usr/bin/chromium";

    private readonly IPlaywright _playwright;
    private readonly IBrowser _browser;

    private BrowserSession(IPlaywright playwright, IBrowser browser, IPage page)
    {
        _playwright = playwright;
        _browser = browser;
        Page = page;
    }

    public IPage Page { get; }

    /// <summary>Blocked hosts, for assertions that nothing tried to leave the machine unexpectedly.</summary>
    public List<string> AbortedRequests { get; } = [];

    /// <summary>Skips the test when Chromium is missing, except in CI, where a missing browser is a failure.</summary>
    public static async Task<BrowserSession> StartAsync()
    {
        if (!File.Exists(ChromiumPath))
        {
            Assert.True(Environment.GetEnvironmentVariable("CI") is null,
                $"CI must run the browser tests, but {ChromiumPath} does not exist (.ci/run installs it: apt-get install -y chromium).");
            Skip.If(true, $"No Chromium at {ChromiumPath}: apt-get update && apt-get install -y chromium (or set CHROMIUM_PATH).");
        }

        var playwright = await Playwright.CreateAsync();
        var browser = await playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions
        {
            ExecutablePath = ChromiumPath,
            Headless = true,
            Args = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                "--disable-sync", "--no-first-run", "--disable-quic"],
        });
        var context = await browser.NewContextAsync(new BrowserNewContextOptions { ViewportSize = new ViewportSize { Width = 1100, Height = 1400 } });
        var page = await context.NewPageAsync();
        var session = new BrowserSession(playwright, browser, page);
        await page.RouteAsync("**/*", async route =>
        {
            var host = new Uri(route.Request.Url).Host;
            if (host is "127.0.0.1" or "localhost" or "[::1]")
            {
                await route.ContinueAsync();
            }
            else
            {
                lock (session.AbortedRequests)
                {
                    session.AbortedRequests.Add(route.Request.Url);
                }
                await route.AbortAsync();
            }
        });
        return session;
    }

    /// <summary>Saves a full-page screenshot under TestResults/screenshots and returns its path.</summary>
    public async Task<string> ScreenshotAsync(string name)
    {
        var path = Path.Combine(TestPaths.RepositoryRoot, "TestResults", "screenshots", $"{name}.png");
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        await Page.ScreenshotAsync(new PageScreenshotOptions { Path = path, FullPage = true });
        return path;
    }

    public async ValueTask DisposeAsync()
    {
        await _browser.DisposeAsync();
        _playwright.Dispose();
    }
}
