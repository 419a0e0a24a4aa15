using TrackMulti.Tests.InProcess;
using TrackMulti.Tests.Infrastructure;

namespace TrackMulti.Tests.Browser;

/// <summary>The Api's reference page (Development, <c>/scalar</c>) in Chromium: it renders from the Api alone.</summary>
public sealed class ApiReferenceTests
{
    [SkippableFact]
    public async Task The_API_reference_renders_the_document_and_asks_nothing_of_the_internet()
    {
        await using var browser = await BrowserSession.StartAsync();
        await using var bucket = await S3rverBucket.CreateAsync("api-reference");
        await using var api = await ApiHost.StartAsync(bucket, ("DOTNET_ENVIRONMENT", "Development"));
        var page = browser.Page;
        var errors = new List<string>();
        page.PageError += (_, error) => errors.Add(error);
        page.Console += (_, message) =>
        {
            if (message.Type == "error")
            {
                errors.Add(message.Text);
            }
        };

        await page.GotoAsync(new Uri(api.Http.BaseAddress!, "/scalar").ToString());
        // An operation's summary, rendered: the page read /openapi/v1.json from the Api.
        await page.GetByText("Readiness: every health check").First.WaitForAsync(new() { Timeout = 20_000 });
        await page.WaitForLoadStateAsync(Microsoft.Playwright.LoadState.NetworkIdle);

        lock (browser.AbortedRequests)
        {
            Assert.Empty(browser.AbortedRequests);
        }
        Assert.Empty(errors);
        await browser.ScreenshotAsync("api-reference");
    }
}
