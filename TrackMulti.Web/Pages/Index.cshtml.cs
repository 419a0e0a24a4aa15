using Microsoft.AspNetCore.Mvc.RazorPages;

namespace TrackMulti.Web.Pages;

public sealed class IndexModel : PageModel
{
    public void OnGet()
    {
    }
}
